import ArgumentParser
import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Tensor

/// `mm1conv inspect PATH`: what a checkpoint holds.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the tensors, dtypes, shapes and metadata of a checkpoint.",
        discussion: """
            PATH is a .safetensors file, a *.safetensors.index.json, a PyTorch checkpoint (.bin, .pt, .pth: read without \
            running any of it; its pickle globals are listed), a pytorch_model.bin.index.json, a folder holding any of these, \
            or an MM1 package. \
            With --graph, PATH may also be a config file (MM1 or Hugging Face), or be left out with --preset.
            """)

    @Argument(help: "The checkpoint, package or (with --graph) config.")
    var path: String?

    @Flag(help: "Print the MM1 parameter tree of a package, a config or a preset.")
    var graph = false

    @Option(help: "With --graph: a named configuration instead of PATH.")
    var preset: String?

    @Flag(help: "Print machine-readable JSON instead of a table.")
    var json = false

    @Flag(help: "Read every tensor and print its SHA-256 (shows a progress bar on a terminal).")
    var hash = false

    func run() throws {
        try reportingErrors {
            if graph { return try printGraph() }
            guard let path else { throw ValidationFailure("PATH is required (or --graph --preset NAME)") }
            let opened = try Checkpoint.open(path)
            let report = InspectReport(opened, hashes: hash ? try Self.hashes(opened.source) : nil)
            var out = FileHandleStream.standardOutput
            if json {
                print(try StableJSON.text(report), to: &out)
            } else {
                print(report.table(), terminator: "", to: &out)
            }
            for w in report.warnings { FileHandleStream.standardError.write("warning: \(w)\n") }
        }
    }

    func printGraph() throws {
        if let path, FileManager.default.fileExists(atPath: "\(path)/\(PackageManifest.fileName)") {
            // A package: the graph with how each parameter is stored.
            let manifest = try PackageManifest.read(package: path)
            return try emit(try GraphReport(package: manifest, origin: "\(path)/\(PackageManifest.fileName)"))
        }
        let resolved: ConfigResolution.Resolved
        if let preset, path == nil {
            resolved = try ConfigResolution.resolve(configFile: nil, preset: preset, source: ".")
        } else if let path {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            resolved = isDirectory.boolValue
                ? try ConfigResolution.read("\(path)/\(PackageManifest.fileName)")
                : try ConfigResolution.read(path)
        } else {
            throw ValidationFailure("--graph needs a PATH or --preset NAME")
        }
        try emit(try GraphReport(config: resolved.config, origin: resolved.origin))
    }

    func emit(_ report: GraphReport) throws {
        var out = FileHandleStream.standardOutput
        if json {
            print(try StableJSON.text(report), to: &out)
        } else {
            print(report.tree(), terminator: "", to: &out)
        }
    }

    static func hashes(_ source: any TensorSource) throws -> [String: String] {
        let progress = ProgressBar("hashing", totalBytes: source.totalByteCount)
        defer { progress.finish() }
        var result: [String: String] = [:]
        for info in source.tensors {
            result[info.name] = Checkpoint.sha256(of: try source.view(named: info.name))
            progress.advance(by: info.byteCount)
        }
        return result
    }
}

/// What `inspect` prints, as a value: rendered as a table or encoded as JSON.
struct InspectReport: Encodable {
    struct Tensor: Encodable {
        let name: String
        let dtype: String
        let shape: [Int]
        let bytes: Int
        let sha256: String?
    }
    struct DTypeTotal: Encodable {
        let dtype: String
        let tensors: Int
        let elements: Int
        let bytes: Int
    }
    let source: String
    let format: String
    let files: [String]
    let metadata: [String: String]
    let tensors: [Tensor]
    let totals: [DTypeTotal]
    let totalBytes: Int
    let totalElements: Int
    let warnings: [String]
    /// The globals a PyTorch checkpoint's pickles name (nil for other formats): what `torch.load` would
    /// look up and call; mm1conv calls none of them.
    let pickleGlobals: [String]?

    init(_ opened: OpenedCheckpoint, hashes: [String: String]?) {
        let infos = opened.source.tensors
        source = opened.displayName
        format = opened.formatName
        files = opened.files
        metadata = opened.source.metadata
        tensors = infos.map {
            Tensor(name: $0.name, dtype: opened.storedTypes[$0.name] ?? $0.dtype.rawValue, shape: $0.shape.dimensions,
                   bytes: $0.byteCount, sha256: hashes?[$0.name])
        }
        totals = Dictionary(grouping: infos, by: { opened.storedTypes[$0.name] ?? $0.dtype.rawValue }).map { (dtype, group) in
            DTypeTotal(dtype: dtype, tensors: group.count, elements: group.reduce(0) { $0 + $1.shape.elementCount }, bytes: group.reduce(0) { $0 + $1.byteCount })
        }.sorted { $0.dtype < $1.dtype }
        totalBytes = infos.reduce(0) { $0 + $1.byteCount }
        totalElements = infos.reduce(0) { $0 + $1.shape.elementCount }
        warnings = opened.warnings
        pickleGlobals = opened.format == .pytorch ? opened.globals : nil
    }

    func table() -> String {
        var lines: [String] = []
        lines.append("\(source): \(format), \(files.count) file\(files.count == 1 ? "" : "s"), \(tensors.count) tensors, \(ByteFormat.text(totalBytes)) of tensor data")
        if !metadata.isEmpty {
            lines.append("metadata:")
            for key in metadata.keys.sorted() { lines.append("  \(key): \(metadata[key]!)") }
        }
        if let pickleGlobals {
            lines.append("pickle globals (\(pickleGlobals.count), each on mm1conv's allowlist; none was called):")
            for g in pickleGlobals { lines.append("  \(g)") }
        }
        var rows = [["name", "dtype", "shape", "bytes"] + (tensors.first?.sha256 != nil ? ["sha256"] : [])]
        for t in tensors {
            rows.append([t.name, t.dtype, "[" + t.shape.map(String.init).joined(separator: ", ") + "]", String(t.bytes)] + (t.sha256.map { [$0] } ?? []))
        }
        lines += TextTable.render(rows, rightAligned: [3])
        lines.append("totals by dtype:")
        var totalRows = [["dtype", "tensors", "elements", "bytes"]]
        for t in totals { totalRows.append([t.dtype, String(t.tensors), String(t.elements), String(t.bytes)]) }
        totalRows.append(["all", String(tensors.count), String(totalElements), String(totalBytes)])
        lines += TextTable.render(totalRows, rightAligned: [1, 2, 3]).map { "  " + $0 }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Aligned plain-text columns.
enum TextTable {
    static func render(_ rows: [[String]], rightAligned: Set<Int> = []) -> [String] {
        let widths = (0..<(rows.map(\.count).max() ?? 0)).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { (c, cell) in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return rightAligned.contains(c) ? pad + cell : (c == row.count - 1 ? cell : cell + pad)
            }.joined(separator: "  ")
        }
    }
}
