import CZstd
import Foundation
import MM1Tensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// zstd-compressed inputs (`model.safetensors.zst`, `*.gguf.zst`, or any name: recognised by magic),
/// decompressed by streaming libzstd into a private temporary file that is then read like any other
/// file. Memory stays bounded (128 KiB buffers plus the zstd window, capped at `2^windowLogMax`); the
/// output is capped by what the inner format's header declares (safetensors), by the frame's declared
/// content size, and by the free space of the temporary folder, so a small hostile file cannot fill a
/// disk. The temporary file is unlinked as soon as it is open (the mapping keeps its data).
public enum ZstdInput {
    /// Largest window accepted: 2^27 = 128 MiB (libzstd's default; `zstd --long` archives need more).
    public static let windowLogMax = 27

    /// True when `bytes` start with a zstd frame or a skippable frame.
    public static func hasMagic(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 4 else { return false }
        let magic = bytes.loadUnaligned(as: UInt32.self).littleEndian
        return magic == 0xFD2F_B528 || magic & 0xFFFF_FFF0 == 0x184D_2A50
    }

    /// Decompresses `path` into a new file in a private temporary folder and returns its path; the caller
    /// opens it and calls ``TemporaryPaths/discard(fileIn:)``. The first decompressed bytes must be the
    /// header of a format mm1conv reads (``InnerOutputGate``): they are held back until it is valid and the
    /// size it declares fits in the free space, so a stream that fails there is refused having written nothing.
    /// - Throws: ``FormatError`` (`.zstd`) naming `path`, or ``FileSystemError``.
    public static func decompress(_ path: String) throws -> String {
        var written: UInt64 = 0
        return try decompress(path, written: &written)
    }

    /// Most bytes written to the temporary file before the header inside has been found valid: only a
    /// stream that ends before any format could judge its first bytes is written unchecked (left to the
    /// readers), and it is shorter than the largest header held plus one block of output.
    public static let maxUncheckedOutput = UInt64(InnerFormatSniffer.maxHeaderBytes + ZSTD_DStreamOutSize())

    /// ``decompress(_:)``, counting in `written` the bytes written to the temporary file (also when it
    /// throws): 0 when the header inside is refused (`.notACheckpoint`, `.innerHeader`, or a declared size
    /// beyond the free space).
    public static func decompress(_ path: String, written: inout UInt64) throws -> String {
        let input = try MappedFile(path: path)
        func fail(_ v: ZstdViolation) -> FormatError { FormatError(.zstd(v), file: path) }
        let bytes = input.bytes
        guard bytes.count > 0 else { throw fail(.noData) }
        guard hasMagic(bytes) else { throw fail(.notZstd) }

        let folder = try TemporaryPaths.makePrivateFolder(prefix: "mm1conv-zstd")
        let output = folder + "/" + ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        let fd = open(output, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            TemporaryPaths.discard(fileIn: output)
            throw FileSystemError(path: output, operation: "create", code: errno)
        }
        var succeeded = false
        defer {
            close(fd)
            if !succeeded { TemporaryPaths.discard(fileIn: output) }
        }
        var space = statvfs()
        let free: UInt64 = statvfs(folder, &space) == 0 ? UInt64(space.f_bavail) * UInt64(space.f_frsize) : .max

        // A declared content size beyond the free space is refused before anything is written.
        let declared = ZSTD_getFrameContentSize(bytes.baseAddress, bytes.count)
        if declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR && declared > free {
            throw fail(.contentTooLarge(declared: declared, limit: free, why: "the frame header declares more than is free in the temporary folder \((folder as NSString).deletingLastPathComponent); set TMPDIR to a folder with more free space"))
        }

        guard let context = ZSTD_createDCtx() else { throw fail(.corrupt("libzstd could not allocate a context")) }
        defer { ZSTD_freeDCtx(context) }
        ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, Int32(windowLogMax))
        let outCapacity = ZSTD_DStreamOutSize()
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: outCapacity, alignment: 64)
        defer { buffer.deallocate() }
        var gate = InnerOutputGate(free: free, folder: folder)
        var produced: UInt64 = 0
        var count: UInt64 = 0
        defer { written = count }
        let sink = { (chunk: UnsafeRawBufferPointer) throws(FileSystemError) in
            try writeAll(chunk, to: fd, path: output)
            count += UInt64(chunk.count)
        }
        var last = 0
        var framesDone = 0
        var input_ = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        do {
            while input_.pos < input_.size {
                var out = ZSTD_outBuffer(dst: buffer, size: outCapacity, pos: 0)
                last = ZSTD_decompressStream(context, &out, &input_)
                if ZSTD_isError(last) != 0 {
                    throw violation(ZSTD_getErrorCode(last), name: ZSTD_getErrorName(last), afterOutput: framesDone > 0 || produced > 0)
                }
                if last == 0 { framesDone += 1 }
                if out.pos > 0 {
                    try gate.admit(UnsafeRawBufferPointer(start: buffer, count: out.pos), after: count, write: sink)
                    produced += UInt64(out.pos)
                }
            }
            guard last == 0 else { throw ZstdViolation.truncated }
            guard produced > 0 else { throw ZstdViolation.noData }
            try gate.finish(written: count, write: sink)
        } catch let v as ZstdViolation {
            throw fail(v)
        }
        succeeded = true
        return output
    }

    /// The violation for a libzstd error code (`name` is libzstd's text for it).
    static func violation(_ code: ZSTD_ErrorCode, name: UnsafePointer<CChar>?, afterOutput: Bool) -> ZstdViolation {
        switch code {
        case ZSTD_error_checksum_wrong: .checksum
        case ZSTD_error_frameParameter_windowTooLarge: .windowTooLarge(windowLogMax: windowLogMax)
        case ZSTD_error_dictionary_wrong, ZSTD_error_dictionary_corrupted: .dictionary
        case ZSTD_error_prefix_unknown: afterOutput ? .trailingGarbage : .notZstd
        default: .corrupt(name.map { String(cString: $0) } ?? "error \(code.rawValue)")
        }
    }

    /// Writes all of `bytes` to `fd` (the file at `path`).
    static func writeAll(_ bytes: UnsafeRawBufferPointer, to fd: Int32, path: String) throws(FileSystemError) {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw FileSystemError(path: path, operation: "write", code: errno) }
            offset += n
        }
    }
}
