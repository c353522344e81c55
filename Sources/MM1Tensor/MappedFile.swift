#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A system call that failed on a named file, with the `errno` it reported.
public struct FileSystemError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The path as the caller gave it.
    public let path: String
    /// What was attempted: `"open"`, `"mmap"`, `"write"`, `"rename"`, …
    public let operation: String
    /// The `errno` value.
    public let code: Int32

    public init(path: String, operation: String, code: Int32) {
        self.path = path
        self.operation = operation
        self.code = code
    }

    /// True when the file does not exist (`ENOENT`), so callers can report missing input.
    public var isMissingFile: Bool { code == ENOENT }

    /// The ``operation`` of an error for a path that exists but is not a regular file.
    static let notRegularOperation = "open (not a regular file)"

    /// The error for `path`, which exists but is a FIFO, device, socket or folder (`mode` from `stat`).
    static func notRegular(_ path: String, mode: mode_t) -> FileSystemError {
        FileSystemError(path: path, operation: notRegularOperation, code: (mode & S_IFMT) == S_IFDIR ? EISDIR : EINVAL)
    }

    /// True when the path exists but is not a regular file (a FIFO, device, socket or folder where a
    /// file was expected): refused without being read, as input that cannot be used.
    public var isNotRegularFile: Bool { operation == Self.notRegularOperation }

    public var description: String {
        if isNotRegularFile {
            return "\(path): not a regular file (\(code == EISDIR ? "a folder" : "a FIFO, device or socket")): refused without reading it"
        }
        return "\(path): \(operation) failed: \(String(cString: strerror(code)))"
    }
}

/// The system's memory page size in bytes.
let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

/// A read-only, private memory mapping of a whole file.
///
/// Tensor views point into the mapping and keep it alive; nothing is copied when a tensor is read.
/// The mapping is made once and never mutated, so it may be shared across threads.
///
/// - Important: like every memory-mapped reader (the Python `safetensors` package included), reading a
///   view of a file that another process truncates after it was opened raises `SIGBUS`. Inputs are
///   opened read-only and never modified by mm1conv itself.
public final class MappedFile: @unchecked Sendable {
    /// The path as given.
    public let path: String
    /// The mapped bytes (empty for an empty file).
    public let bytes: UnsafeRawBufferPointer

    /// The file's first bytes, copied with `pread` when the file was opened with a prefix length
    /// (empty otherwise).
    public let prefix: UnsafeRawBufferPointer

    /// Maps `path` read-only.
    /// - Throws: ``FileSystemError`` when the file cannot be opened, is not a regular file, or cannot be mapped.
    public convenience init(path: String) throws(FileSystemError) {
        try self.init(path: path, prefixLength: nil)
    }

    /// Maps `path` read-only and copies its first bytes into ``prefix`` from the same open file: the
    /// first 8, given to `prefixLength`, which says how many bytes the prefix has in all (at most the
    /// file's size are read). A header read this way costs no page faults and no page tables for
    /// the mapping, which is what opening a large file costs most.
    /// - Throws: ``FileSystemError``, as ``init(path:)``, or when reading fails.
    public init(path: String, prefixLength: ((UnsafeRawBufferPointer) -> Int)?) throws(FileSystemError) {
        self.path = path
        let (fd, size) = try RegularFile.openForReading(path)
        defer { close(fd) }
        if let prefixLength {
            var head: UInt64 = 0
            let got = try withUnsafeMutableBytes(of: &head) { (b) throws(FileSystemError) -> Int in try RegularFile.read(fd, into: b, at: 0, path: path) }
            let length = withUnsafeBytes(of: head) { prefixLength(UnsafeRawBufferPointer(rebasing: $0[..<got])) }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(0, min(length, size)), alignment: 8)
            do {
                let count = try RegularFile.read(fd, into: buffer, at: 0, path: path)
                prefix = UnsafeRawBufferPointer(rebasing: buffer[..<count])
            } catch {
                buffer.deallocate()
                throw error
            }
        } else {
            prefix = UnsafeRawBufferPointer(start: nil, count: 0)
        }
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            let code = errno
            prefix.baseAddress.map { $0.deallocate() }
            throw FileSystemError(path: path, operation: "mmap", code: code)
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    /// The file's size in bytes.
    public var size: Int { bytes.count }

    /// Maps the pages of `range` in one call (`MADV_POPULATE_READ`, Linux 5.14+) instead of one
    /// fault per page as they are touched; a hint, ignored where unsupported.
    public func populate(_ range: Range<Int>) {
        #if os(Linux)
        guard let base = bytes.baseAddress, !range.isEmpty else { return }
        let page = pageSize
        let start = range.lowerBound / page * page
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), range.upperBound - start, 22 /* MADV_POPULATE_READ */)
        #endif
    }

    /// Drops this process's copies of the pages that hold `range` (they are read again from the file
    /// if touched). Streaming readers call it after each tensor, so resident memory stays at one
    /// tensor instead of growing with every page of the file they have read. Pages shared with a
    /// neighbouring tensor go too (the mapping is private and never written, so a later read of
    /// them only faults them in again): small tensors, and the pages the kernel maps around each
    /// fault, would otherwise stay resident for the life of the mapping.
    public func releasePages(_ range: Range<Int>) {
        guard let base = bytes.baseAddress, !range.isEmpty else { return }
        let page = pageSize
        let start = range.lowerBound / page * page
        let end = min(bytes.count, (range.upperBound + page - 1) / page * page)
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
        prefix.baseAddress.map { $0.deallocate() }
    }
}

/// Input files opened the way every reader of mm1conv opens them.
package enum RegularFile {
    /// Opens `path` read-only and returns the descriptor (the caller closes it) and the file's size.
    /// Opened `O_NONBLOCK`: a FIFO given as a file would otherwise block until a writer comes; it is
    /// refused as not regular, as are folders and devices. (For regular files the flag changes nothing.)
    package static func openForReading(_ path: String) throws(FileSystemError) -> (fd: Int32, size: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw FileSystemError(path: path, operation: "open", code: errno) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let code = errno
            close(fd)
            throw FileSystemError(path: path, operation: "stat", code: code)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw FileSystemError.notRegular(path, mode: st.st_mode)
        }
        return (fd, Int(st.st_size))
    }

    /// The whole of a small regular file (a config, a mapping), read without blocking on a FIFO.
    /// - Throws: ``FileSystemError``, as ``openForReading(_:)``, or when reading fails.
    public static func contents(_ path: String) throws(FileSystemError) -> [UInt8] {
        let (fd, size) = try openForReading(path)
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 1)
        defer { buffer.deallocate() }
        let count = try read(fd, into: buffer, at: 0, path: path)
        return [UInt8](buffer.prefix(count))
    }

    /// Reads up to `buffer.count` bytes at `offset` (fewer only at the end of the file); the count read.
    package static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String) throws(FileSystemError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw FileSystemError(path: path, operation: "read", code: errno) }
            if n == 0 { break }
            done += n
        }
        return done
    }
}
