import Crypto
import MM1Tensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SHA-256 as lowercase hex, of bytes in memory or of a whole file.
public enum Hashing {
    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> String {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        return hasher.finalize().map { String(format2: $0) }.joined()
    }

    /// The digest of the file at `path` and its size, read in 8 MiB pieces (cheaper than faulting in
    /// mapped pages, and nothing stays resident). Refuses what is not a regular file, as every reader does.
    public static func sha256(file path: String) throws -> (digest: String, bytes: Int) {
        let (fd, _) = try RegularFile.openForReading(path)
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        var total = 0
        while case let n = try RegularFile.read(fd, into: buffer, at: total, path: path), n > 0 {
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += n
        }
        return (hasher.finalize().map { String(format2: $0) }.joined(), total)
    }
}
