import Crypto
import MM1Tensor

/// SHA-256 as lowercase hex, of bytes in memory or of a whole file (memory-mapped, read once).
public enum Hashing {
    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> String {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        return hasher.finalize().map { String(format2: $0) }.joined()
    }

    /// The digest of the file at `path` and its size.
    public static func sha256(file path: String) throws -> (digest: String, bytes: Int) {
        let file = try MappedFile(path: path)
        return withExtendedLifetime(file) {
            var hasher = SHA256()
            var offset = 0
            while offset < file.size {
                let end = min(file.size, offset + (64 << 20))
                hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: file.bytes[offset..<end]))
                file.releasePages(offset..<end)  // keep resident memory at one chunk
                offset = end
            }
            return (hasher.finalize().map { String(format2: $0) }.joined(), file.size)
        }
    }
}
