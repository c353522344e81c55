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
        return hex(hasher.finalize())
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
        return (hex(hasher.finalize()), total)
    }

    /// Lowercase hex of a digest's bytes.
    static func hex<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes { text += [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]] }
        return String(decoding: text, as: UTF8.self)
    }
}
