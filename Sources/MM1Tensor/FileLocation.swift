/// Where a tensor's bytes are inside a file: the file's path and a byte range from its first byte.
///
/// ```swift
/// if let at = view.location {
///     let fd = open(at.path, O_RDONLY)
///     pread(fd, deviceStagingBuffer, at.byteCount, off_t(at.offset))   // the same bytes as view.bytes
/// }
/// ```
public struct FileLocation: Sendable, Hashable, CustomStringConvertible {
    /// The file's path, as it was opened (for a package: the package's path, `/`, the shard's name).
    public let path: String
    /// The offset of the first byte from the start of the file.
    public let offset: Int
    /// How many bytes.
    public let byteCount: Int

    /// `byteCount` bytes at `offset` of the file at `path`.
    public init(path: String, offset: Int, byteCount: Int) {
        self.path = path
        self.offset = offset
        self.byteCount = byteCount
    }

    /// `offset ..< offset + byteCount`.
    public var byteRange: Range<Int> { offset..<(offset + byteCount) }

    /// `path @ offset (+byteCount bytes)`.
    public var description: String { "\(path) @ \(offset) (+\(byteCount) bytes)" }
}
