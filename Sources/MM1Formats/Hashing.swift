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

    /// The digest of the file at `path` and its size, read with `read(2)` in 8 MiB pieces (cheaper
    /// than faulting in mapped pages, and nothing stays resident).
    public static func sha256(file path: String) throws -> (digest: String, bytes: Int) {
        // O_NONBLOCK and a regular-file check: a FIFO put in a file's place must not block the read.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw FileSystemError(path: path, operation: "open", code: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw FileSystemError(path: path, operation: "open (not a regular file)", code: EISDIR)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        var total = 0
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(path: path, operation: "read", code: errno)
            }
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += n
        }
        return (hasher.finalize().map { String(format2: $0) }.joined(), total)
    }
}
