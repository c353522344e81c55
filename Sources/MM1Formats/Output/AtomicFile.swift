import MM1Tensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

import Crypto

#if canImport(Glibc)
private let systemWrite = Glibc.write
#else
private let systemWrite = Darwin.write
#endif

/// A file written under a temporary name in its destination folder and moved into place only when
/// complete, so that a crash or an error never leaves a partial file at the final path.
///
/// On ``commit()`` the data is flushed, `fsync`ed, and linked to the final name (refusing to replace
/// an existing file unless `overwrite` is set), then the folder is `fsync`ed. A file that is never
/// committed is removed when the object is released.
public final class AtomicFile {
    /// The final path.
    public let path: String
    /// The temporary path being written.
    public let temporaryPath: String
    private let overwrite: Bool
    private var fd: Int32
    private var buffer: [UInt8] = []
    private let bufferLimit = 1 << 20
    private var committed = false
    /// Bytes written so far.
    public private(set) var bytesWritten = 0
    /// SHA-256 of everything written, computed as it is written (no second read).
    private var hasher = SHA256()
    /// The file's SHA-256 (lowercase hex), available after ``commit()``.
    public private(set) var sha256: String?

    /// Creates the temporary file beside `path`.
    public init(path: String, overwrite: Bool = false) throws {
        if !overwrite, access(path, F_OK) == 0 { throw OutputError.exists(path: path) }
        self.path = path
        self.overwrite = overwrite
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var candidate = ""
        var descriptor: Int32 = -1
        for _ in 0..<16 {
            candidate = "\(folder)/.\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            TemporaryPaths.register(candidate)  // before it exists (see TemporaryPaths.register)
            descriptor = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if descriptor >= 0 { break }
            let failure = errno
            TemporaryPaths.unregister(candidate)
            if failure != EEXIST { errno = failure; break }
        }
        guard descriptor >= 0 else { throw FileSystemError(path: candidate, operation: "create", code: errno) }
        self.fd = descriptor
        self.temporaryPath = candidate
        buffer.reserveCapacity(bufferLimit)
    }

    /// Appends `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(FileSystemError) {
        bytesWritten += bytes.count
        hasher.update(bufferPointer: bytes)
        if buffer.count + bytes.count <= bufferLimit {
            buffer.append(contentsOf: bytes)
            return
        }
        try flush()
        if bytes.count >= bufferLimit { try writeAll(bytes) } else { buffer.append(contentsOf: bytes) }
    }

    /// Appends `bytes`.
    public func write(_ bytes: [UInt8]) throws(FileSystemError) {
        try bytes.withUnsafeBytes { raw in Result { () throws(FileSystemError) in try write(raw) } }.get()
    }

    private func flush() throws(FileSystemError) {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { raw in Result { () throws(FileSystemError) in try writeAll(raw) } }.get()
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws(FileSystemError) {
        var offset = 0
        while offset < bytes.count {
            let n = systemWrite(fd, bytes.baseAddress! + offset, min(bytes.count - offset, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(path: path, operation: "write", code: errno)
            }
            offset += n
        }
    }

    /// Flushes, syncs and moves the file to ``path``.
    public func commit() throws {
        try flush()
        sha256 = hasher.finalize().map { String(format2: $0) }.joined()
        guard fsync(fd) == 0 else { throw FileSystemError(path: path, operation: "fsync", code: errno) }
        close(fd)
        fd = -1
        if overwrite {
            guard rename(temporaryPath, path) == 0 else { throw FileSystemError(path: path, operation: "rename", code: errno) }
        } else {
            // link() fails with EEXIST instead of replacing: two writers cannot both win.
            guard link(temporaryPath, path) == 0 else {
                let code = errno
                if code == EEXIST { throw OutputError.exists(path: path) }
                throw FileSystemError(path: path, operation: "link", code: code)
            }
            unlink(temporaryPath)
        }
        committed = true
        TemporaryPaths.unregister(temporaryPath)
        Self.syncFolder(of: path)
    }

    /// `fsync`s the folder holding `path`, so a rename survives a crash.
    public static func syncFolder(of path: String) {
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let dfd = open(folder.isEmpty ? "/" : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !committed {
            unlink(temporaryPath)
            TemporaryPaths.unregister(temporaryPath)
        }
    }
}
