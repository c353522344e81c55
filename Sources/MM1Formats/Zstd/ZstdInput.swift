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
    /// opens it and calls ``TemporaryPaths/discard(fileIn:)``.
    /// - Throws: ``FormatError`` (`.zstd`) naming `path`, or ``FileSystemError``.
    public static func decompress(_ path: String) throws -> String {
        let input = try MappedFile(path: path)
        func fail(_ v: ZstdViolation) -> FormatError { FormatError(.zstd(v), file: path) }
        let bytes = input.bytes
        guard bytes.count > 0 else { throw fail(.noData) }
        guard hasMagic(bytes) else { throw fail(.notZstd) }

        let folder = try TemporaryPaths.makePrivateFolder(prefix: "mm1conv-zstd")
        let output = folder + "/" + ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        let fd = open(output, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw FileSystemError(path: output, operation: "create", code: errno) }
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
            throw fail(.contentTooLarge(declared: declared, limit: free, why: "the frame header declares more than the free space of \(folder)"))
        }

        guard let context = ZSTD_createDCtx() else { throw fail(.corrupt("libzstd could not allocate a context")) }
        defer { ZSTD_freeDCtx(context) }
        ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, Int32(windowLogMax))
        let outCapacity = ZSTD_DStreamOutSize()
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: outCapacity, alignment: 64)
        defer { buffer.deallocate() }
        var limit = SafetensorsBudget(free: free)
        var written: UInt64 = 0
        var last = 0
        var framesDone = 0
        var input_ = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while input_.pos < input_.size {
            var out = ZSTD_outBuffer(dst: buffer, size: outCapacity, pos: 0)
            last = ZSTD_decompressStream(context, &out, &input_)
            if ZSTD_isError(last) != 0 {
                let code = ZSTD_getErrorCode(last)
                switch code {
                case ZSTD_error_checksum_wrong: throw fail(.checksum)
                case ZSTD_error_frameParameter_windowTooLarge: throw fail(.windowTooLarge(windowLogMax: windowLogMax))
                case ZSTD_error_dictionary_wrong, ZSTD_error_dictionary_corrupted: throw fail(.dictionary)
                case ZSTD_error_prefix_unknown where framesDone > 0 || written > 0: throw fail(.trailingGarbage)
                case ZSTD_error_prefix_unknown: throw fail(.notZstd)
                default: throw fail(.corrupt(String(cString: ZSTD_getErrorName(last))))
                }
            }
            if last == 0 { framesDone += 1 }
            if out.pos > 0 {
                let chunk = UnsafeRawBufferPointer(start: buffer, count: out.pos)
                if let why = limit.admit(chunk, after: written) { throw fail(.contentTooLarge(declared: nil, limit: limit.cap, why: why)) }
                var offset = 0
                while offset < out.pos {
                    let n = write(fd, buffer + offset, out.pos - offset)
                    guard n > 0 else { throw FileSystemError(path: output, operation: "write", code: errno) }
                    offset += n
                }
                written += UInt64(out.pos)
            }
        }
        guard last == 0 else { throw fail(.truncated) }
        guard written > 0 else { throw fail(.noData) }
        if let why = limit.finish(written) { throw fail(.contentTooLarge(declared: nil, limit: limit.cap, why: why)) }
        succeeded = true
        return output
    }

}

/// The output cap while decompressing: the free space, and — once the first bytes show a safetensors
/// header — exactly `8 + N + data size` that header declares (a zip bomb after a valid header stops there).
struct SafetensorsBudget {
    private(set) var cap: UInt64
    private var head: [UInt8] = []
    private var settled = false

    init(free: UInt64) { cap = free }

    /// Nil when `chunk`, written after `written` bytes, stays within the cap; else why not.
    mutating func admit(_ chunk: UnsafeRawBufferPointer, after written: UInt64) -> String? {
        if !settled, head.count < 1 << 20 {
            head.append(contentsOf: chunk.prefix((1 << 20) - head.count))
            settle()
        }
        return written + UInt64(chunk.count) > cap
            ? (settled ? "more bytes than the safetensors header inside declares" : "more than the free space of the temporary folder") : nil
    }

    /// Nil when the total matches what a safetensors header declared (or there was none to check).
    func finish(_ written: UInt64) -> String? {
        settled && written != cap ? "the safetensors header inside declares \(cap) bytes, the stream holds \(written)" : nil
    }

    private mutating func settle() {
        guard head.count >= 8 else { return }
        let n = head.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian }
        guard n <= 100_000_000, head.count >= 8 + Int(n) else { return }
        // The largest data_offsets end is the data size; a header that does not parse is left to the
        // safetensors reader to refuse once the file is written.
        guard let json = try? head.withUnsafeBytes({ raw in try StrictJSONParser().parse(UnsafeRawBufferPointer(rebasing: raw[8..<(8 + Int(n))])) }),
              let object = json.object else { return }
        var end: UInt64 = 0
        for (key, value) in object.members where key != "__metadata__" {
            guard let offsets = value.object?["data_offsets"]?.array, offsets.count == 2,
                  let stop = offsets[1].uint64 else { return }
            end = max(end, stop)
        }
        cap = min(cap, 8 + n + end)
        settled = true
    }
}
