import Foundation
import MM1Formats
import MM1Graph
import MM1Quantization
import MM1Tensor

/// An MM1 package opened for reading: its manifest, checked against its shards, and the typed model
/// whose leaves are zero-copy views: plain tensors, or a quantized parameter's codes, scales and
/// biases, dequantized on demand.
///
/// ```swift
/// let package = try MM1Package.open("model.mm1")
/// let q = package.model.language.layers[3].attention.q.weight   // StoredTensor, no copy
/// let values = try q.floats()                                    // converted or dequantized
/// if case .quantized(let codes) = q { print(codes.format) }      // e.g. int4 symmetric g32
/// ```
public final class MM1Package: TensorSource, @unchecked Sendable {
    public let path: String
    public let manifest: PackageManifest
    public let model: MM1Model<StoredTensor>
    public let files: [SafetensorsFile]
    private let views: [String: TensorView]
    private let stored: [String: StoredTensor]

    /// Opens and checks a package: every tensor of the manifest must be in its shard with the same
    /// dtype, shape and offset, no shard may hold other tensors, and the tensors must be exactly the
    /// parameters of the manifest's configuration.
    public static func open(_ path: String) throws -> MM1Package { try MM1Package(path: path) }

    init(path: String) throws {
        self.path = path
        func fail(_ r: PackageError.Reason) -> PackageError { PackageError(path: path, reason: r) }
        let manifest = try PackageManifest.read(package: path)
        self.manifest = manifest

        var files: [String: SafetensorsFile] = [:]
        for name in manifest.shards.keys.sorted() {
            guard SafetensorsCheckpoint.isSafeShardName(name) else { throw fail(.invalidManifest("shard name \"\(name)\" is not a plain file name")) }
            let shardPath = "\(path)/\(name)"
            guard FileManager.default.fileExists(atPath: shardPath) else { throw fail(.shardMissing(name)) }
            files[name] = try SafetensorsFile(path: shardPath)
        }
        for (name, entry) in manifest.files ?? [:] {
            guard TokenizerFiles.isSafePackagePath(name) else { throw fail(.invalidManifest("file \"\(name)\" is not a tokenizer file inside the package")) }
            let size = (try? FileManager.default.attributesOfItem(atPath: "\(path)/\(name)")[.size] as? Int) ?? nil
            guard size == entry.bytes else { throw fail(.fileSizeMismatch(file: name, expected: entry.bytes, actual: size)) }
        }
        var views: [String: TensorView] = [:]
        for (name, entry) in manifest.tensors {
            guard let shard = files[entry.shard] else { throw fail(.tensorMismatch(tensor: name, detail: "shard \(entry.shard) is not in the manifest's shard list")) }
            guard let info = shard.info(named: name) else { throw fail(.tensorMismatch(tensor: name, detail: "absent from \(entry.shard)")) }
            guard info.dtype == entry.dtype, info.shape.dimensions == entry.shape,
                  shard.header.dataOffset + info.byteRange.lowerBound == entry.offset, info.byteCount == entry.bytes else {
                throw fail(.tensorMismatch(tensor: name, detail: "\(entry.shard) holds \(info.dtype) \(info.shape) at \(shard.header.dataOffset + info.byteRange.lowerBound), the manifest says \(entry.dtype) \(entry.shape) at \(entry.offset)"))
            }
            views[name] = try shard.view(named: name)
        }
        for (shardName, shard) in files {
            if let extra = shard.tensors.first(where: { manifest.tensors[$0.name]?.shard != shardName }) {
                throw fail(.tensorMismatch(tensor: extra.name, detail: "in \(shardName) but not listed there by the manifest"))
            }
        }
        // Quantized parameters: codes under the parameter's name, scales and biases beside them.
        var stored: [String: StoredTensor] = [:]
        var companions: Set<String> = []
        for (name, entry) in manifest.tensors {
            guard let q = entry.quantization else { continue }
            func part(_ partName: String?) throws -> TensorView? {
                guard let partName else { return nil }
                guard let view = views[partName], manifest.tensors[partName]?.quantization == nil, !companions.contains(partName) else {
                    throw fail(.tensorMismatch(tensor: name, detail: "its quantization part \(partName) is missing, quantized, or shared"))
                }
                companions.insert(partName)
                return view
            }
            do {
                stored[name] = .quantized(try QuantizedTensor(name: name, format: q.format, shape: q.shape, codes: views[name]!,
                                                              scales: try part(q.scales)!, biases: try part(q.biases)))
            } catch let error as QuantizationError {
                throw fail(.tensorMismatch(tensor: name, detail: error.description))
            }
        }
        for (name, view) in views where stored[name] == nil && !companions.contains(name) { stored[name] = .plain(view) }
        let graph = try MM1Model(graphOf: manifest.config)
        let expected = Set(graph.specs.map(\.name))
        if let extra = Set(stored.keys).subtracting(expected).sorted().first { throw fail(.graphMismatch("tensor \(extra) is not a parameter of the config")) }
        if let missing = expected.subtracting(stored.keys).sorted().first { throw fail(.graphMismatch("parameter \(missing) has no tensor")) }
        for spec in graph.specs where stored[spec.name]!.shape != spec.shape.dimensions {
            throw fail(.graphMismatch("\(spec.name) is \(stored[spec.name]!.shape), the config needs \(spec.shape)"))
        }
        self.views = views
        self.stored = stored
        self.files = files.keys.sorted().map { files[$0]! }
        self.model = try MM1Model(config: manifest.config) { spec in stored[spec.name]! }
    }

    /// The parameter called `name` (canonical), plain or quantized.
    public func parameter(named name: String) throws(TensorLookupError) -> StoredTensor {
        guard let p = stored[name] else { throw TensorLookupError(name: name, source: path) }
        return p
    }

    /// Whether any parameter is quantized.
    public var isQuantized: Bool { manifest.isQuantized }

    public var sourceDescription: String { path }
    public var tensors: [TensorInfo] { views.values.map(\.info).sorted { $0.name < $1.name } }
    public var metadata: [String: String] { [:] }
    public func info(named name: String) -> TensorInfo? { views[name]?.info }
    public func view(named name: String) throws(TensorLookupError) -> TensorView {
        guard let v = views[name] else { throw TensorLookupError(name: name, source: path) }
        return v
    }
}
