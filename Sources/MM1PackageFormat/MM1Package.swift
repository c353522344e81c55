import Foundation
import MM1Formats
import MM1Graph
import MM1Quantization
import MM1Tensor

/// An MM1 package opened for reading: its manifest, checked against its shards, and the typed model
/// whose leaves are ``StoredTensor``s: zero-copy views of a plain tensor, or of a quantized
/// parameter's codes, scales and biases, dequantized on demand.
///
/// ```swift
/// let package = try MM1Package.open("model.mm1")
/// print(package.manifest.config)                                 // a one-line summary
/// let q = package.model.language.layers[3].attention.q.weight   // StoredTensor, no copy
/// let values = try q.floats()                                    // converted or dequantized
/// print(q.storageDescription, q.byteCount)                       // e.g. int4 symmetric g32 (U8 codes, F16 scales)
/// for (spec, tensor) in package.parameters { … }                 // every parameter, in graph order
/// for part in package.storage { print(part.name, part.location!) }   // every stored tensor, file and offset
/// ```
///
/// Three ways in, by what a loader wants:
/// - parameters (``parameters``, ``parameter(named:)``, ``model``): one ``StoredTensor`` per
///   parameter of the config, plain or quantized;
/// - plain values (``view(named:)``): a plain parameter's view; a quantized name throws
///   ``PackageLookupError/Reason/quantized(_:)`` rather than return its codes;
/// - raw storage (``storage``, ``storedPart(named:)``): every tensor the shards hold, each a
///   ``StoredPart`` that says what it is: a plain parameter, or a quantized one's codes (under the
///   parameter's name), scales or biases (their names in the manifest entry, by default `NAME.scales`
///   and `NAME.biases`). A quantized package so stores more tensors than it has parameters.
///
/// Views stay valid for as long as any of them, or the package, lives.
public final class MM1Package: @unchecked Sendable {
    /// The package folder, as given to ``open(_:)``.
    public let path: String
    /// `mm1.json`: config, tensor entries (shard, dtype, shape, offset, hash, quantization), provenance.
    public let manifest: PackageManifest
    /// The config's graph with every leaf its ``StoredTensor``:
    /// `model.language.layers[3].attention.q.weight`.
    public let model: MM1Model<StoredTensor>
    /// The shards, mapped, sorted by file name.
    public let files: [SafetensorsFile]
    /// Every stored tensor, sorted by name (``TensorInfo/nameOrder(_:_:)``).
    public let storage: [StoredPart]
    private let parts: [String: StoredPart]
    private let stored: [String: StoredTensor]

    /// Opens and checks a package: every tensor of the manifest must be in its shard with the same
    /// dtype, shape and offset, no shard may hold other tensors, a quantized parameter's parts must
    /// agree with its format, and the tensors must be exactly the parameters of the manifest's
    /// configuration. Nothing is hashed (``PackageIntegrity`` does that).
    /// - Throws: ``PackageError`` naming what disagrees (no manifest, a missing shard, a tensor that
    ///   differs from its entry, a parameter missing); `FileSystemError` or `FormatError` when a
    ///   shard cannot be mapped or read as safetensors.
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
        self.stored = stored
        self.files = files.keys.sorted().map { files[$0]! }
        self.model = try MM1Model(config: manifest.config) { spec in stored[spec.name]! }
        storage = stored.values.flatMap(\.parts).sorted { TensorInfo.nameOrder($0.name, $1.name) }
        parts = Dictionary(uniqueKeysWithValues: storage.map { ($0.name, $0) })
    }

    /// Every parameter with its stored tensor, in the order of the graph's specs (vision, connector,
    /// language; ``MM1Model/specs``): the model's ``MM1Model/parameters`` under loader names.
    public var parameters: [(spec: ParameterSpec, tensor: StoredTensor)] {
        model.parameters.map { (spec: $0.spec, tensor: $0.value) }
    }

    /// The parameter called `name` (canonical), plain or quantized.
    /// - Throws: ``PackageLookupError``: ``PackageLookupError/Reason/quantizationPart(of:role:)`` for
    ///   a quantized parameter's scales or biases, ``PackageLookupError/Reason/noSuchTensor`` for
    ///   any other name that is not a parameter.
    public func parameter(named name: String) throws(PackageLookupError) -> StoredTensor {
        if let p = stored[name] { return p }
        throw lookupError(name)
    }

    /// The view of the plain parameter called `name`: its values in their stored dtype.
    /// - Throws: ``PackageLookupError``: ``PackageLookupError/Reason/quantized(_:)`` when the
    ///   parameter is quantized (its stored tensor is codes: ``parameter(named:)`` dequantizes,
    ///   ``storedPart(named:)`` gives the codes), as ``parameter(named:)`` for other names.
    public func view(named name: String) throws(PackageLookupError) -> TensorView {
        switch try parameter(named: name) {
        case .plain(let view): return view
        case .quantized(let q): throw PackageLookupError(package: path, name: name, reason: .quantized(q.format))
        }
    }

    /// The stored tensor called `name` as the shard holds it, with its role: a plain parameter, or a
    /// quantized one's codes (under the parameter's name), scales or biases.
    /// - Throws: ``PackageLookupError`` (``PackageLookupError/Reason/noSuchTensor``) when no shard
    ///   holds it.
    public func storedPart(named name: String) throws(PackageLookupError) -> StoredPart {
        guard let part = parts[name] else { throw PackageLookupError(package: path, name: name, reason: .noSuchTensor) }
        return part
    }

    /// Whether any parameter is quantized.
    public var isQuantized: Bool { manifest.isQuantized }

    private func lookupError(_ name: String) -> PackageLookupError {
        if let part = parts[name], part.role != .plain, part.role != .codes {
            return PackageLookupError(package: path, name: name, reason: .quantizationPart(of: part.parameter, role: part.role))
        }
        return PackageLookupError(package: path, name: name, reason: .noSuchTensor)
    }
}
