/// A zero-copy view of one tensor's bytes inside a mapped file.
///
/// The view keeps its file mapped for as long as it lives. Its bytes may be unaligned (files written
/// by MLX do not align tensor data), so element access goes through ``DTypeConversion`` or
/// `loadUnaligned`, never through a typed pointer.
public struct TensorView: @unchecked Sendable {
    /// Name, dtype, shape and the byte range recorded in the file.
    public let info: TensorInfo
    /// The tensor's bytes, exactly `info.byteCount` of them.
    public let bytes: UnsafeRawBufferPointer
    private let owner: AnyObject?

    /// Makes a view of `bytes`, keeping `owner` (usually a ``MappedFile``) alive with it.
    public init(info: TensorInfo, bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        precondition(bytes.count == info.byteCount, "view of \(bytes.count) bytes for \(info.byteCount)-byte tensor")
        self.info = info
        self.bytes = bytes
        self.owner = owner
    }

    /// The tensor's name in its file.
    public var name: String { info.name }
    /// The element type, as stored.
    public var dtype: DType { info.dtype }
    /// The shape, outermost dimension first.
    public var shape: Shape { info.shape }
    /// Bytes the view holds (`info.byteCount`), as ``QuantizedTensor``'s and `StoredTensor`'s `byteCount`.
    public var byteCount: Int { bytes.count }

    /// Where the bytes are in their file, for a runtime that reads or transfers them itself (`pread`,
    /// DMA, `cudaMemcpy` from its own mapping): the mapped file's path and the offset from its first
    /// byte. Nil for a view of memory that is not a mapped file (``init(info:filling:)``).
    public var location: FileLocation? {
        guard let file = owner as? MappedFile, let base = file.bytes.baseAddress, let start = bytes.baseAddress else { return nil }
        return FileLocation(path: file.path, offset: start - base, byteCount: bytes.count)
    }

    /// Drops the resident pages of this view's bytes when it points into a ``MappedFile`` (see
    /// ``MappedFile/releasePages(_:)``); the view stays valid.
    public func releasePages() { releasePages(in: 0..<bytes.count) }

    /// Maps the pages of `range` of this view's bytes in one call (see ``MappedFile/populate(_:)``).
    public func populatePages(in range: Range<Int>) {
        guard let file = owner as? MappedFile, let base = file.bytes.baseAddress, let start = bytes.baseAddress else { return }
        let offset = start - base
        file.populate((offset + range.lowerBound)..<(offset + range.upperBound))
    }

    /// Drops the resident pages of `range` of this view's bytes (see ``releasePages()``).
    public func releasePages(in range: Range<Int>) {
        guard let file = owner as? MappedFile, let base = file.bytes.baseAddress, let start = bytes.baseAddress else { return }
        let offset = start - base
        file.releasePages((offset + range.lowerBound)..<(offset + range.upperBound))
    }

    /// Calls `body` with the raw bytes, keeping the mapping alive for the duration.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try withExtendedLifetime(owner) { () throws(E) -> R in try body(bytes) }
    }

    /// The elements converted to `Float`, in row-major order.
    /// - Throws: ``ConversionError`` when the dtype cannot be converted.
    public func floats() throws(ConversionError) -> [Float] {
        var failure: ConversionError?
        let values = [Float](unsafeUninitializedCapacity: info.shape.elementCount) { buffer, initialized in
            do throws(ConversionError) {
                try withUnsafeBytes { (raw) throws(ConversionError) in
                    try DTypeConversion.toFloat32(raw, dtype: info.dtype, into: buffer)
                }
                initialized = buffer.count
            } catch {
                buffer.initialize(repeating: 0)
                initialized = buffer.count
                failure = error
            }
        }
        if let failure { throw failure }
        return values
    }
}

extension TensorView {
    /// A view of `info.byteCount` bytes of its own heap memory, which `fill` writes first: tensors
    /// made in memory (dequantized GGUF blocks, requantized parts, tests) used where mapped ones are.
    public init(info: TensorInfo, filling fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        let owner = OwnedBytes(count: info.byteCount)
        try fill(owner.storage)
        self.init(info: info, bytes: UnsafeRawBufferPointer(owner.storage), owner: owner)
    }

    /// A view of a copy of `bytes` (see ``init(info:filling:)``).
    public init(copying bytes: [UInt8], name: String, dtype: DType, shape: Shape) {
        self.init(info: TensorInfo(name: name, dtype: dtype, shape: shape, byteRange: 0..<bytes.count)) { $0.copyBytes(from: bytes) }
    }
}

/// Heap bytes kept alive by the views made of them.
private final class OwnedBytes: @unchecked Sendable {
    let storage: UnsafeMutableRawBufferPointer

    init(count: Int) {
        let base = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, count), alignment: 64)
        storage = UnsafeMutableRawBufferPointer(rebasing: base[0..<count])
    }

    deinit { UnsafeMutableRawBufferPointer(start: storage.baseAddress, count: max(1, storage.count)).deallocate() }
}
