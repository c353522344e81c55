import Foundation

/// What the first decompressed bytes of a zstd input say about one format.
enum InnerVerdict: Equatable {
    /// Not enough bytes to tell: ask again once at least this many are out. The file, if it is this
    /// format, is at least `leastSize` bytes long.
    case needMore(Int, leastSize: UInt64 = 0)
    /// Not this format: why (shown when no format claims the bytes).
    case notThisFormat(String)
    /// This format, with a header that breaks a rule: which.
    case invalid(String)
    /// This format, with a valid header that says how large the whole file is: exactly (safetensors)
    /// or at least and at most.
    case valid(size: ClosedRange<UInt64>)
}

/// One format a zstd input may hold, recognised from its first bytes: a row of ``InnerFormatSniffer/all``.
struct InnerFormatSniffer: Sendable {
    /// The format's name in messages.
    let name: String
    /// The verdict on the first bytes of the decompressed data.
    let examine: @Sendable (UnsafeRawBufferPointer) -> InnerVerdict

    /// Every format mm1conv reads from inside a zstd frame, tried in this order.
    static let all: [InnerFormatSniffer] = [.safetensors, .gguf, .pytorch]

    /// Most bytes held back while a header is read (a GGUF header, with its tokenizer, is a few MB).
    static let maxHeaderBytes = 128 << 20

    /// Bytes after a GGUF data section (padded to the alignment) accepted inside zstd: the reader accepts
    /// trailing bytes with a warning (as ggml does), so some are allowed here too; more is a bomb.
    static let ggufTrailingBytes: UInt64 = 1 << 20

    /// A PyTorch checkpoint: a zip (`torch.save` since 1.6) or the legacy stacked pickles, by their magic. Its
    /// size shows only at its end (the zip's central directory, the legacy storage list), so the output is capped
    /// by the free space alone; the reader checks the whole file once it is out.
    static let pytorch = InnerFormatSniffer(name: "PyTorch") { bytes in
        let magics = TorchCheckpointFile.Container.signatures
        let need = magics.map(\.count).max()!
        let head = Array(bytes.prefix(need))
        switch TorchCheckpointFile.Container.sniff(bytes) {
        case .zip?, .legacy?: return .valid(size: UInt64(bytes.count)...UInt64.max)
        case .pickle?, nil: break
        }
        if head.count < need, magics.contains(where: { $0.starts(with: head) }) { return .needMore(need) }
        return .notThisFormat("PyTorch: neither a zip nor the legacy format's magic number")
    }

    /// An 8-byte little-endian header length (1 … 100,000,000, the reader's limit), a JSON object, then
    /// exactly the data its entries declare.
    static let safetensors = InnerFormatSniffer(name: "safetensors") { bytes in
        guard bytes.count >= 8 else { return .needMore(8) }
        let limits = ReadLimits.standard
        let length = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard length > 0 else { return .notThisFormat("safetensors: header length 0") }
        guard length <= UInt64(limits.maxHeaderBytes) else {
            return .notThisFormat("safetensors: header length \(length) past the limit of \(limits.maxHeaderBytes)")
        }
        // JSON may start with whitespace; anything else than `{` first is not a header.
        let end = 8 + Int(length)
        let seen = bytes[8..<min(end, bytes.count)]
        if let first = seen.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }), first != UInt8(ascii: "{") {
            return .notThisFormat("safetensors: the \(length)-byte header does not start with '{'")
        }
        guard bytes.count >= end else { return .needMore(end) }
        do throws(FormatError) {
            let header = try SafetensorsHeader(parsing: bytes, fileSize: nil, name: "", limits: limits)
            let size = UInt64(header.dataOffset + header.dataSize)
            return .valid(size: size...size)
        } catch {
            return .invalid(error.detail)
        }
    }

    /// `GGUF`, version 2 or 3, counts the free space could hold at all, then metadata and tensor infos
    /// that pass the reader's checks (``GGUFHeader``, parsed again as more bytes come, each time twice as many).
    static let gguf = InnerFormatSniffer(name: "GGUF") { bytes in
        guard bytes.prefix(4).elementsEqual(Array("GGUF".utf8).prefix(bytes.count)) else { return .notThisFormat("GGUF: no 'GGUF' magic") }
        guard bytes.count >= 24 else { return .needMore(24) }
        do throws(FormatError) {
            let header = try GGUFHeader(parsing: bytes, partial: true, file: "")
            return .valid(size: header.fileSize.lowerBound...(header.fileSize.upperBound + ggufTrailingBytes))
        } catch {
            guard case .gguf(.truncated) = error.reason else { return .invalid(error.detail) }
        }
        // The smallest key/value is 14 bytes (length, 1-byte key, type, 1-byte value), the smallest tensor
        // info 25 (length, 1-byte name, n_dims 0, type, offset): the file is at least this long.
        let tensors = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let values = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        let (kv, o1) = values.multipliedReportingOverflow(by: 14)
        let (ti, o2) = tensors.multipliedReportingOverflow(by: 25)
        let (least, o3) = kv.addingReportingOverflow(ti)
        guard !o1, !o2, !o3, least <= UInt64.max - 24 else {
            return .invalid(GGUFViolation.countTooLarge(what: o1 ? "key/value" : "tensor", count: o1 ? values : tensors).description)
        }
        return .needMore(bytes.count * 2, leastSize: 24 + least)
    }
}

/// The output of a zstd input on its way to the temporary file: the first bytes are held back (not
/// written) until one of ``InnerFormatSniffer/all`` recognises a valid header, then the output is capped
/// by the size that header declares and by the free space of the temporary folder. A stream whose first
/// bytes are no checkpoint, whose header breaks a rule, or whose header declares more than the free
/// space is refused as soon as that shows, having written nothing.
struct InnerOutputGate {
    /// The free space of the temporary folder (bytes), and that folder for messages.
    let free: UInt64
    let folder: String
    /// The size of the file inside, once a header has said it.
    private(set) var declared: ClosedRange<UInt64>?
    /// The format that said it.
    private(set) var format: String?
    /// Output held back while no header has been recognised.
    private(set) var held: [UInt8] = []
    /// Ask the sniffers again once this many bytes are held.
    private var next = 1

    init(free: UInt64, folder: String) {
        self.free = free
        self.folder = folder
    }

    /// Takes `chunk`, the output after `written` bytes were written, and calls `write` with what may be
    /// written now: nothing while the header is being read, then what was held and each chunk after.
    mutating func admit(_ chunk: UnsafeRawBufferPointer, after written: UInt64,
                        write: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard declared == nil else { return try pass(chunk, after: written, write) }
        held.append(contentsOf: chunk)
        guard held.count >= next else { return }
        try settle()
        guard declared != nil else { return }
        let pending = held
        held = []
        try pending.withUnsafeBytes { try pass($0, after: written, write) }
    }

    /// At the end of the stream: what is still held is written (a file too short to tell is left to
    /// the readers), and the total must be what a header declared.
    mutating func finish(written: UInt64, write: (UnsafeRawBufferPointer) throws -> Void) throws {
        let total = written + UInt64(held.count)
        if !held.isEmpty { try held.withUnsafeBytes { try write($0) } }
        held = []
        if let declared, !declared.contains(total) {
            throw ZstdViolation.contentTooLarge(declared: nil, limit: declared.upperBound,
                                                why: "the \(format ?? "") header inside declares \(Self.text(declared)) bytes, the stream holds \(total)")
        }
    }

    /// Writes `bytes` unless they would take the output past the declared size or the free space.
    private func pass(_ bytes: UnsafeRawBufferPointer, after written: UInt64, _ write: (UnsafeRawBufferPointer) throws -> Void) throws {
        if let declared, written + UInt64(bytes.count) > declared.upperBound {
            throw ZstdViolation.contentTooLarge(
                declared: nil, limit: declared.upperBound,
                why: declared.upperBound == free ? "more than is free in the temporary folder \(tmpdir); set TMPDIR to a folder with more free space"
                    : "more bytes than the \(format ?? "") header inside declares")
        }
        try write(bytes)
    }

    /// Asks every sniffer about the held bytes: one valid header settles the size (refused when it is
    /// larger than the free space), one broken header or none recognised is refused, else more is needed.
    private mutating func settle() throws {
        let verdicts = held.withUnsafeBytes { bytes in InnerFormatSniffer.all.map { ($0.name, $0.examine(bytes)) } }
        var reasons: [String] = []
        var wanted = Int.max
        for (name, verdict) in verdicts {
            switch verdict {
            case .valid(let size):
                try checkRoom(for: size.lowerBound, format: name, text: Self.text(size))
                declared = size.lowerBound...min(size.upperBound, free)
                format = name
                return
            case .invalid(let why): throw ZstdViolation.innerHeader(format: name, why)
            case .notThisFormat(let why): reasons.append(why)
            case .needMore(let count, let least):
                try checkRoom(for: least, format: name, text: "at least \(least)")
                guard held.count < InnerFormatSniffer.maxHeaderBytes else {
                    throw ZstdViolation.innerHeader(format: name, "its header is longer than the \(InnerFormatSniffer.maxHeaderBytes) bytes mm1conv holds while it checks a compressed input (decompress the file first)")
                }
                wanted = min(wanted, count, InnerFormatSniffer.maxHeaderBytes)
            }
        }
        guard wanted < Int.max else { throw ZstdViolation.notACheckpoint(reasons.joined(separator: "; ")) }
        next = max(wanted, held.count + 1)
    }

    /// Refuses a file inside of at least `size` bytes (`text` in the message) that the free space cannot hold.
    private func checkRoom(for size: UInt64, format: String, text: String) throws {
        guard size > free else { return }
        throw ZstdViolation.contentTooLarge(
            declared: size, limit: free,
            why: "the \(format) header inside declares \(text) bytes (header and data), more than is free in the temporary "
                + "folder \(tmpdir); nothing was written: set TMPDIR to a folder with more free space")
    }

    /// The temporary folder as the user can change it (`TMPDIR`): the one holding the private folder.
    private var tmpdir: String { (folder as NSString).deletingLastPathComponent }

    private static func text(_ size: ClosedRange<UInt64>) -> String {
        size.lowerBound == size.upperBound ? "\(size.lowerBound)" : size.upperBound == .max ? "at least \(size.lowerBound)" : "\(size.lowerBound)…\(size.upperBound)"
    }
}
