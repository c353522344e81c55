/// Why a zstd-compressed input cannot be read.
public enum ZstdViolation: Error, Sendable, Equatable, CustomStringConvertible {
    /// Neither a zstd frame nor a skippable frame starts the file (the legacy v0.7 format included).
    case notZstd
    /// The file is empty, or holds only skippable frames: no data.
    case noData
    /// The input ends inside a frame.
    case truncated
    /// libzstd found the compressed data damaged (its message).
    case corrupt(String)
    /// The frame's checksum does not match its content.
    case checksum
    /// The frame needs a window larger than the cap (`2^windowLogMax` bytes).
    case windowTooLarge(windowLogMax: Int)
    /// The frame declares, or the stream produces, more bytes than allowed: `limit` and why.
    case contentTooLarge(declared: UInt64?, limit: UInt64, why: String)
    /// The frame needs a dictionary.
    case dictionary
    /// Bytes after the last complete frame that are not a frame.
    case trailingGarbage
    /// The first decompressed bytes are no format mm1conv reads: why not, for each format tried.
    case notACheckpoint(String)
    /// The first decompressed bytes are the header of `format`, and it breaks a rule: which.
    case innerHeader(format: String, String)

    /// The malformed corpus's category (`Tests/Fixtures/zstd/malformed/MANIFEST.json`).
    public var category: String {
        switch self {
        case .notZstd: "not_zstd"
        case .noData: "no_data"
        case .truncated: "truncated"
        case .corrupt: "corrupt"
        case .checksum: "checksum"
        case .windowTooLarge: "window_too_large"
        case .contentTooLarge: "content_too_large"
        case .dictionary: "dictionary"
        case .trailingGarbage: "trailing_garbage"
        case .notACheckpoint: "not_checkpoint"
        case .innerHeader: "inner_header"
        }
    }

    public var description: String {
        switch self {
        case .notZstd: "not zstd-compressed (no zstd frame magic)"
        case .noData: "zstd input holds no data"
        case .truncated: "zstd stream is truncated (it ends inside a frame)"
        case .corrupt(let why): "zstd data is corrupt: \(why)"
        case .checksum: "zstd frame checksum mismatch: the data is damaged"
        case .windowTooLarge(let log): "zstd frame needs a window larger than 2^\(log) bytes (the cap)"
        case .contentTooLarge(let declared, let limit, let why):
            "zstd content " + (declared.map { "of \(Self.bytes($0)) " } ?? "") + "exceeds \(Self.bytes(limit)): \(why)"
        case .dictionary: "zstd frame needs a dictionary mm1conv does not have"
        case .trailingGarbage: "bytes after the last zstd frame are not a frame"
        case .notACheckpoint(let why): "the decompressed data is not a checkpoint mm1conv reads (\(why)); refused from its first bytes"
        case .innerHeader(let format, let why): "the \(format) header inside is invalid: \(why); refused before the rest was decompressed"
        }
    }

    /// `n` bytes, with the SI size for large counts: "500000000096 bytes (500.0 GB)".
    static func bytes(_ n: UInt64) -> String {
        guard n >= 10_000 else { return "\(n) bytes" }
        let units = ["kB", "MB", "GB", "TB", "PB", "EB"]
        var value = Double(n) / 1000, unit = 0
        while value >= 1000, unit < units.count - 1 { value /= 1000; unit += 1 }
        return "\(n) bytes (\((value * 10).rounded() / 10) \(units[unit]))"
    }
}
