/// What a checkpoint says about one tensor: its name, element type, shape, and where its bytes are.
///
/// `byteRange` is relative to the start of the file's data section (for safetensors, the byte after
/// the header), exactly as the file records it.
public struct TensorInfo: Sendable, Hashable, Codable {
    public let name: String
    public let dtype: DType
    public let shape: Shape
    public let byteRange: Range<Int>

    public init(name: String, dtype: DType, shape: Shape, byteRange: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.byteRange = byteRange
    }

    /// Bytes the tensor occupies.
    public var byteCount: Int { byteRange.count }
}
