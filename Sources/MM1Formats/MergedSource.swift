import MM1Tensor

/// Several tensor sources read as one (the files of a folder), their tensor names disjoint.
public final class MergedSource: TensorSource, @unchecked Sendable {
    public let parts: [any TensorSource]
    public let sourceDescription: String
    /// Every part's tensors, sorted by name as ``TensorSource`` promises.
    public let tensors: [TensorInfo]
    private let owner: [String: Int]

    /// - Throws: ``FormatError`` when two parts hold a tensor of the same name.
    public init(_ parts: [any TensorSource], description: String) throws {
        self.parts = parts
        sourceDescription = description
        var owner: [String: Int] = [:]
        for (i, part) in parts.enumerated() {
            for info in part.tensors {
                if let other = owner[info.name] {
                    throw FormatError(.index(.tensorInSeveralFiles(files: [parts[other].sourceDescription, part.sourceDescription])),
                                      file: description, tensor: info.name)
                }
                owner[info.name] = i
            }
        }
        self.owner = owner
        tensors = parts.flatMap(\.tensors).sorted { TensorInfo.nameOrder($0.name, $1.name) }
    }

    public var metadata: [String: String] { parts.reduce(into: [:]) { $0.merge($1.metadata) { a, _ in a } } }
    public func info(named name: String) -> TensorInfo? { owner[name].flatMap { parts[$0].info(named: name) } }
    public func view(named name: String) throws(TensorLookupError) -> TensorView {
        guard let i = owner[name] else { throw TensorLookupError(name: name, source: sourceDescription) }
        return try parts[i].view(named: name)
    }
}
