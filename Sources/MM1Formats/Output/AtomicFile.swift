import CKernels
import Dispatch
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
package final class AtomicFile {
    /// The final path.
    package let path: String
    /// The temporary path being written.
    package let temporaryPath: String
    private let overwrite: Bool
    private var fd: Int32
    /// Bytes not written yet: two page-aligned buffers, so that whole blocks can go to the file with
    /// direct I/O; one is filled while the other is written on ``io``.
    private let buffers = (0..<2).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: AtomicFile.stagingBytes, alignment: AtomicFile.block) }
    private var filling = 0
    private var staged = 0
    /// Whether writes bypass the page cache (`O_DIRECT`): the file is `fsync`ed on commit anyway, so
    /// copying it into the cache first only costs a copy and a slower flush. Off where the file
    /// system refuses it (tmpfs), and for the last, partial block. Touched by ``io`` while a write
    /// runs, by the caller only when none does.
    private var direct = false
    private var committed = false
    /// Writes full buffers one at a time, beside the caller (which goes on hashing and copying).
    private let io = DispatchQueue(label: "mm1conv.atomic-file.io")
    private let idle = DispatchSemaphore(value: 1)
    private var ioError: FileSystemError?
    static let block = 4096
    static let stagingBytes = 4 << 20
    /// Bytes written so far.
    package private(set) var bytesWritten = 0
    /// SHA-256 of everything written, computed as it is written (no second read).
    private var hasher = SHA256()
    /// The file's SHA-256 (lowercase hex), available after ``commit()``.
    package private(set) var sha256: String?

    /// Creates the temporary file beside `path`.
    package init(path: String, overwrite: Bool = false) throws {
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
        direct = setDirect(true)
    }

    /// Turns direct I/O on or off; whether it is now on.
    private func setDirect(_ on: Bool) -> Bool {
        let flag = mm1_direct_io_flag()
        guard flag != 0 else { return false }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, on ? flags | flag : flags & ~flag) == 0 else { return false }
        return on
    }

    /// Appends `bytes`.
    package func write(_ bytes: UnsafeRawBufferPointer) throws(FileSystemError) {
        bytesWritten += bytes.count
        hasher.update(bufferPointer: bytes)
        var done = 0
        while done < bytes.count {
            let staging = buffers[filling]
            let n = min(bytes.count - done, staging.count - staged)
            UnsafeMutableRawBufferPointer(rebasing: staging[staged..<(staged + n)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[done..<(done + n)]))
            staged += n
            done += n
            if staged == staging.count { try handOver() }
        }
    }

    /// Queues the full buffer (whole blocks) for writing and goes on with the other one, once the
    /// write before has finished.
    private func handOver() throws(FileSystemError) {
        idle.wait()
        if let ioError {
            idle.signal()
            throw ioError
        }
        let job = IOJob(file: self, bytes: UnsafeRawBufferPointer(buffers[filling]))
        io.async { job.run() }
        filling = 1 - filling
        staged = 0
    }

    /// One buffer's write on ``io``: the file and the buffer outlive it (``deinit`` waits for ``io``),
    /// and the caller touches neither the buffer nor ``direct`` until ``idle`` is signalled.
    private struct IOJob: @unchecked Sendable {
        let file: AtomicFile
        let bytes: UnsafeRawBufferPointer
        func run() {
            defer { file.idle.signal() }
            do throws(FileSystemError) { try file.writeAll(bytes) } catch { file.ioError = error }
        }
    }

    /// Waits for the write in flight; rethrows its error.
    private func settle() throws(FileSystemError) {
        idle.wait()
        idle.signal()
        if let ioError { throw ioError }
    }

    /// Appends `bytes`.
    package func write(_ bytes: [UInt8]) throws(FileSystemError) {
        try bytes.withUnsafeBytes { raw in Result { () throws(FileSystemError) in try write(raw) } }.get()
    }

    /// Writes everything still staged, once the write in flight has finished: whole blocks directly
    /// (when on), the last partial block through the cache.
    private func flushAll() throws(FileSystemError) {
        try settle()
        let staging = buffers[filling]
        let whole = staged / Self.block * Self.block
        try writeAll(UnsafeRawBufferPointer(rebasing: staging[0..<whole]))
        if whole < staged, direct { direct = setDirect(false) }
        try writeAll(UnsafeRawBufferPointer(rebasing: staging[whole..<staged]))
        staged = 0
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws(FileSystemError) {
        var offset = 0
        while offset < bytes.count {
            let n = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                // A file system may accept the flag and refuse the write: write through the cache.
                if errno == EINVAL, direct {
                    direct = setDirect(false)
                    continue
                }
                throw FileSystemError(path: path, operation: "write", code: errno)
            }
            offset += n
            // A short direct write leaves the file off block alignment: go on through the cache.
            if direct, n % Self.block != 0 { direct = setDirect(false) }
        }
    }

    /// Flushes, syncs and moves the file to ``path``.
    package func commit() throws {
        try flushAll()
        sha256 = Hashing.hex(hasher.finalize())
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
    package static func syncFolder(of path: String) {
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let dfd = open(folder.isEmpty ? "/" : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    deinit {
        io.sync {}  // no write may run on a closed descriptor or a freed buffer
        buffers.forEach { $0.deallocate() }
        if fd >= 0 { close(fd) }
        if !committed {
            unlink(temporaryPath)
            TemporaryPaths.unregister(temporaryPath)
        }
    }
}
