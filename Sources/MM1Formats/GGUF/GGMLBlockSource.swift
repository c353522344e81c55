import MM1Tensor

/// A tensor's ggml blocks as stored (Q8_0, Q4_0, …), for carrying them into another format without
/// dequantizing.
public struct GGMLBlocks: @unchecked Sendable {
    public let type: GGMLType
    /// The tensor's shape, outermost first (rows × elements per row, for a matrix).
    public let shape: [Int]
    let bytes: UnsafeRawBufferPointer
    let owner: AnyObject

    /// Calls `body` with the stored bytes, keeping the mapping alive meanwhile.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(owner) { try body(bytes) }
    }
}

/// A tensor source that can hand out the raw blocks of its block-quantized tensors.
public protocol GGMLBlockSource: TensorSource {
    /// The stored blocks of `name`, or nil when it is absent or not block-quantized.
    func ggmlBlocks(named name: String) -> GGMLBlocks?
}

extension GGUFFile: GGMLBlockSource {
    public func ggmlBlocks(named name: String) -> GGMLBlocks? {
        guard let t = ggufTensor(named: name), t.type.plainDType == nil else { return nil }
        return GGMLBlocks(type: t.type, shape: t.shape, bytes: storedBytes(of: t), owner: self)
    }
}

extension MergedSource: GGMLBlockSource {
    public func ggmlBlocks(named name: String) -> GGMLBlocks? {
        parts.lazy.compactMap { ($0 as? any GGMLBlockSource)?.ggmlBlocks(named: name) }.first
    }
}
