import Foundation
import MM1Formats
import MM1Graph
import MM1Tensor

/// An MM1 package opened for reading: its manifest, checked against its shards, and the typed model
/// whose leaves are zero-copy views.
///
/// ```swift
/// let package = try MM1Package.open("model.mm1")
/// let q = package.model.language.layers[3].attention.q.weight   // TensorView, no copy
/// let values = try q.floats()
/// ```
public final class MM1Package: TensorSource, @unchecked Sendable {
    public let path: String
    public let manifest: PackageManifest
    public let model: MM1Model<TensorView>
    public let files: [SafetensorsFile]
    private let views: [String: TensorView]

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
        let graph = try MM1Model(graphOf: manifest.config)
        let expected = Set(graph.specs.map(\.name))
        if let extra = Set(views.keys).subtracting(expected).sorted().first { throw fail(.graphMismatch("tensor \(extra) is not a parameter of the config")) }
        if let missing = expected.subtracting(views.keys).sorted().first { throw fail(.graphMismatch("parameter \(missing) has no tensor")) }
        for spec in graph.specs where views[spec.name]!.shape != spec.shape {
            throw fail(.graphMismatch("\(spec.name) is \(views[spec.name]!.shape), the config needs \(spec.shape)"))
        }
        self.views = views
        self.files = files.keys.sorted().map { files[$0]! }
        self.model = try MM1Model(config: manifest.config) { spec in views[spec.name]! }
    }

    public var sourceDescription: String { path }
    public var tensors: [TensorInfo] { views.values.map(\.info).sorted { $0.name < $1.name } }
    public var metadata: [String: String] { [:] }
    public func info(named name: String) -> TensorInfo? { views[name]?.info }
    public func view(named name: String) throws(TensorLookupError) -> TensorView {
        guard let v = views[name] else { throw TensorLookupError(name: name, source: path) }
        return v
    }
}
