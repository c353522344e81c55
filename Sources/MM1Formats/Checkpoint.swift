import Foundation
import MM1Tensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The file format a checkpoint's tensors were read from.
///
/// The raw value is the name `inspect` prints and package manifests record as `source_format` (with
/// `+zstd` appended when the input was compressed, see ``OpenedCheckpoint/formatName``).
public enum CheckpointFormat: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    case safetensors
    case gguf
    case hdf5
    /// `torch.save` files (`.bin`, `.pt`, `.pth`): zip, legacy stacked pickles, or a bare pickle.
    case pytorch

    public var description: String { rawValue }

    /// Whether the reader converts the input into a private temporary file before viewing it (so the
    /// name to show the user is the input's, not the converted copy's).
    var readsThroughCopy: Bool { self == .hdf5 }
}

/// A compression around a checkpoint file, removed before its format is read.
public enum CheckpointCompression: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    case zstd

    public var description: String { rawValue }
}

/// A checkpoint opened for reading, whatever its format.
public struct OpenedCheckpoint: Sendable {
    /// The file format of the tensors.
    public let format: CheckpointFormat
    /// Which of the format's containers the input used, where it has several (PyTorch: `zip`, `legacy`,
    /// `pickle`, or several joined by `+` for shards of different kinds); nil otherwise.
    public let container: String?
    /// The compression the input was read through, if any.
    public let compression: CheckpointCompression?
    /// The tensors.
    public let source: any TensorSource
    /// Every file read (shards, index).
    public let files: [String]
    /// Non-fatal findings from reading.
    public let warnings: [String]
    /// How each tensor is stored when that differs from how it reads (GGUF: `Q4_0`, … for block-quantized
    /// tensors, which read as dequantized F32).
    public var storedTypes: [String: String] = [:]
    /// The globals a PyTorch checkpoint's pickles name (`torch._utils._rebuild_tensor_v2`, …), for audits;
    /// empty for other formats.
    public var globals: [String] = []

    public init(format: CheckpointFormat, container: String? = nil, compression: CheckpointCompression? = nil,
                source: any TensorSource, files: [String], warnings: [String], storedTypes: [String: String] = [:],
                globals: [String] = []) {
        self.format = format
        self.container = container
        self.compression = compression
        self.globals = globals
        self.source = source
        self.files = files
        self.warnings = warnings
        self.storedTypes = storedTypes
    }

    /// The format as `inspect` prints it and manifests record it: `safetensors`, `gguf+zstd`, `pytorch-zip`, …
    public var formatName: String { format.rawValue + (container.map { "-\($0)" } ?? "") + (compression.map { "+\($0)" } ?? "") }

    /// The input as the user named it (a compressed file's own path, not its decompressed copy's).
    public var displayName: String {
        files.count == 1 && (compression != nil || format.readsThroughCopy) ? files[0] : source.sourceDescription
    }
}

/// Opens checkpoints of any supported format through one call, so commands need no format-specific code.
///
/// What an input is, is decided by a table (``readers``): each row recognises its format from a probe of
/// the input (the first bytes of a file, or the names in a folder) and opens it. Compression is a layer
/// below the table: a compressed file is decompressed into a private temporary file, which is then looked
/// up in the same table. A new format is one more row.
public enum Checkpoint {
    /// Opens `path`: a file of any supported format (recognised by content, not by name), a sharded
    /// safetensors index, or a folder holding either.
    /// - Throws: ``FileSystemError`` (missing input, a FIFO or device in a file's place) or ``FormatError``.
    public static func open(_ path: String, limits: ReadLimits = .standard) throws -> OpenedCheckpoint {
        let probe = try InputProbe(path)
        if let codec = CompressionLayer.all.first(where: { $0.recognises(probe) }) {
            return try openCompressed(path, codec: codec, limits: limits)
        }
        return try reader(for: probe).open(probe, limits)
    }

    /// The readers, in the order they are asked; the last one (safetensors) takes whatever no other row
    /// recognises, so that a missing or damaged input gets the safetensors reader's precise error.
    static let readers: [CheckpointReader] = [.hdf5, .gguf, .pytorch, .safetensors]

    static func reader(for probe: InputProbe) -> CheckpointReader {
        readers.first { $0.recognises(probe) } ?? .safetensors
    }

    /// The GGUF files of a folder that holds no safetensors (e.g. the two files `export --format gguf`
    /// writes), or nil.
    public static func ggufFiles(in folder: String) -> [String]? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return nil }
        return ggufFiles(named: names, in: folder)
    }

    static func ggufFiles(named names: [String], in folder: String) -> [String]? {
        guard !SafetensorsCheckpoint.found(among: names) else { return nil }
        let ggufs = names.filter { $0.hasSuffix(".gguf") }.sorted().map { "\(folder)/\($0)" }
        return ggufs.isEmpty ? nil : ggufs
    }

    /// A compressed single file: decompressed into a private temporary file, opened through the reader
    /// table, and unlinked at once — the mapping keeps the data. Errors in the inner file name the
    /// compressed one.
    static func openCompressed(_ path: String, codec: CompressionLayer, limits: ReadLimits) throws -> OpenedCheckpoint {
        let inner = try codec.decompress(path)
        defer { TemporaryPaths.discard(fileIn: inner) }
        do {
            let probe = try InputProbe(inner)
            let reader = reader(for: probe)
            guard reader.opensDecompressed, CompressionLayer.all.allSatisfy({ !$0.recognises(probe) }) else {
                throw FormatError(.zstd(.corrupt("nested compression")), file: path)
            }
            let opened = try reader.open(probe, limits)
            return OpenedCheckpoint(format: opened.format, container: opened.container, compression: codec.kind, source: opened.source,
                                    files: [path], warnings: opened.warnings, storedTypes: opened.storedTypes, globals: opened.globals)
        } catch let error as FormatError {
            throw FormatError(error.reason, file: "\(path) (decompressed)", tensor: error.tensor, key: error.key)
        }
    }

    /// The SHA-256 of a tensor's bytes, as lowercase hex.
    public static func sha256(of view: TensorView) -> String {
        view.withUnsafeBytes { Hashing.sha256($0) }
    }
}

/// What `Checkpoint.open` knows of an input before choosing its reader: a regular file's first bytes, or
/// a folder's entry names. Nothing else is read, and a FIFO or device in a file's place is refused here,
/// before anything could block on it.
struct InputProbe {
    enum Kind {
        /// A regular file and its first ``headLength`` bytes (fewer when it is shorter).
        case file(head: [UInt8])
        /// A folder and the names of its entries.
        case folder(names: [String])
        /// Nothing is at the path; the fallback reader reports it.
        case missing
    }

    /// Enough for every magic number, a tar header's (at 257) included.
    static let headLength = 512

    let path: String
    let kind: Kind

    init(_ path: String) throws(FileSystemError) {
        self.path = path
        var st = stat()
        guard stat(path, &st) == 0 else {
            kind = .missing
            return
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            kind = .folder(names: (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
            return
        }
        let (fd, size) = try RegularFile.openForReading(path)
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.headLength, alignment: 1)
        defer { buffer.deallocate() }
        let count = try RegularFile.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(size, Self.headLength)]), at: 0, path: path)
        kind = .file(head: Array(buffer[0..<count]))
    }

    /// The first bytes of a file (nil for a folder or a missing path).
    var head: [UInt8]? {
        if case .file(let head) = kind { return head }
        return nil
    }

    /// The entry names of a folder (nil for a file or a missing path).
    var folderNames: [String]? {
        if case .folder(let names) = kind { return names }
        return nil
    }

    /// Whether the file's first bytes satisfy `test`.
    func headMatches(_ test: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        head.map { $0.withUnsafeBytes(test) } ?? false
    }

    /// Whether the path ends in one of `extensions` (each with its dot).
    func hasExtension(_ extensions: String...) -> Bool {
        extensions.contains { path.hasSuffix($0) }
    }
}

/// One row of ``Checkpoint/readers``: how to recognise a format from an ``InputProbe`` and how to open it.
struct CheckpointReader: Sendable {
    let format: CheckpointFormat
    /// Whether this reader takes the input.
    let recognises: @Sendable (InputProbe) -> Bool
    let open: @Sendable (InputProbe, ReadLimits) throws -> OpenedCheckpoint
    /// Whether a decompressed file of this format is read (a file format, not a converted container).
    let opensDecompressed: Bool

    static let safetensors = CheckpointReader(
        format: .safetensors, recognises: { _ in true },
        open: { probe, limits in
            let checkpoint = try SafetensorsCheckpoint(path: probe.path, limits: limits)
            return OpenedCheckpoint(format: .safetensors, source: checkpoint,
                                    files: (checkpoint.indexPath.map { [$0] } ?? []) + checkpoint.shards.map(\.path),
                                    warnings: checkpoint.warnings)
        }, opensDecompressed: true)

    /// A GGUF file (by magic), or a folder of GGUF files and no safetensors.
    static let gguf = CheckpointReader(
        format: .gguf,
        recognises: { probe in
            probe.headMatches(GGUFFile.hasMagic) || probe.folderNames.flatMap { Checkpoint.ggufFiles(named: $0, in: probe.path) } != nil
        },
        open: { probe, _ in
            let paths = probe.folderNames.flatMap { Checkpoint.ggufFiles(named: $0, in: probe.path) } ?? [probe.path]
            let files = try paths.map { try GGUFFile(path: $0) }
            let source: any TensorSource = probe.head != nil ? files[0] : try MergedSource(files, description: probe.path)
            return OpenedCheckpoint(format: .gguf, source: source, files: paths, warnings: [],
                                    storedTypes: files.reduce(into: [:]) { $0.merge($1.blockTypes) { a, _ in a } })
        }, opensDecompressed: true)

    /// A PyTorch checkpoint (see ``TorchCheckpoint/recognizes(_:)``).
    static let pytorch = CheckpointReader(
        format: .pytorch, recognises: TorchCheckpoint.recognizes,
        open: { probe, limits in try TorchCheckpoint.open(probe.path, limits: limits) }, opensDecompressed: true)

    /// An HDF5 file (by signature, which may follow a user block), or a `.h5`/`.hdf5` file without one,
    /// refused as not HDF5. Converted (in a child process when the tool runs) into a private temporary
    /// safetensors file, opened, and unlinked at once.
    static let hdf5 = CheckpointReader(
        format: .hdf5,
        recognises: { probe in probe.head != nil && (probe.hasExtension(".h5", ".hdf5") || HDF5Input.hasSignature(probe.path)) },
        open: { probe, limits in
            let path = probe.path
            guard HDF5Input.hasSignature(path) else { throw FormatError(.hdf5(.notHDF5), file: path) }
            let folder = try TemporaryPaths.makePrivateFolder(prefix: "mm1conv-hdf5")
            let inner = folder + "/" + ((path as NSString).lastPathComponent as NSString).deletingPathExtension + ".safetensors"
            defer { TemporaryPaths.discard(fileIn: inner) }
            let warnings = try HDF5Input.convert(path, to: inner)
            let file = try SafetensorsFile(path: inner, limits: limits)
            return OpenedCheckpoint(format: .hdf5, source: file, files: [path], warnings: warnings)
        }, opensDecompressed: false)
}

/// A compression removed below the reader table: how to recognise it and how to decompress a file into a
/// private temporary file.
struct CompressionLayer: Sendable {
    let kind: CheckpointCompression
    let recognises: @Sendable (InputProbe) -> Bool
    /// Decompresses the file at a path and returns the decompressed file's path.
    let decompress: @Sendable (String) throws -> String

    static let all: [CompressionLayer] = [.zstd]

    /// zstd, by frame magic, or by the `.zst` extension on any file (so that a damaged one is reported as
    /// damaged zstd rather than as a damaged safetensors file).
    static let zstd = CompressionLayer(
        kind: .zstd,
        recognises: { probe in probe.headMatches(ZstdInput.hasMagic) || (probe.head != nil && probe.hasExtension(".zst")) },
        decompress: { try ZstdInput.decompress($0) })
}
