/// Anything that holds named tensors: a safetensors file, a sharded checkpoint, a GGUF file, a converted HDF5
/// file, a merge of several of these, an MM1 package.
///
/// The graph, the naming dialects and the import report see only this protocol, so they work the
/// same for every file format and can be tested with in-memory sources.
public protocol TensorSource: Sendable {
    /// Where the tensors come from, for messages (a path, or a list of shards).
    var sourceDescription: String { get }
    /// Every tensor, sorted by name.
    var tensors: [TensorInfo] { get }
    /// The file's string key-value metadata (safetensors `__metadata__`, or the index's).
    var metadata: [String: String] { get }
    /// The tensor called `name`, or `nil`.
    func info(named name: String) -> TensorInfo?
    /// A zero-copy view of the tensor called `name`.
    /// - Throws: ``TensorLookupError`` when there is no such tensor.
    func view(named name: String) throws(TensorLookupError) -> TensorView
}

/// A tensor was asked for by a name the source does not hold.
public struct TensorLookupError: Error, Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public let source: String
    /// Why a tensor that exists cannot be viewed (nil: there is no such tensor).
    public let reason: String?
    public init(name: String, source: String, reason: String? = nil) {
        self.name = name
        self.source = source
        self.reason = reason
    }
    public var description: String { reason.map { "\(source): tensor '\(name)': \($0)" } ?? "\(source): no tensor named '\(name)'" }
}

extension TensorSource {
    /// Total bytes of tensor data.
    public var totalByteCount: Int { tensors.reduce(0) { $0 + $1.byteCount } }
}
