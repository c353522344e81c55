/// One rule of the zip container `torch.save` writes (torch ≥ 1.6), broken. ``TorchZipArchive`` checks
/// them all before any record is read; the entry at fault, when there is one, is in ``FormatError/tensor``
/// as the archive stores its name.
public enum TorchZipViolation: Error, Sendable, Equatable, CustomStringConvertible {
    /// No end of central directory record in the file's last 65,557 bytes, and the file does not start
    /// like a zip: this is not a zip archive.
    case notZip
    /// The file starts like a zip, or has an end record, but a structure it needs is cut off.
    case zipTruncated(String)
    /// The end of central directory record, or its ZIP64 locator or record, is inconsistent.
    case badEndRecord(String)
    /// The archive spans several disks (split archives are not read).
    case multiDisk
    /// The central directory does not lie inside the file, before its end records.
    case centralDirectoryOutOfBounds(String)
    /// The central directory is larger than ``TorchZipArchive/Limits/maxCentralDirectoryBytes``.
    case centralDirectoryTooLarge(size: UInt64, limit: Int)
    /// The archive declares more entries than ``TorchZipArchive/Limits/maxEntries``.
    case tooManyEntries(count: UInt64, limit: Int)
    /// A central directory entry is malformed (signature, lengths, extra fields, ZIP64 fields).
    case badCentralEntry(String)
    /// The archive holds no entry at all.
    case emptyArchive
    /// An entry name is empty, absolute, has `..`/`.`/empty components, a backslash, a NUL or control
    /// character, or bytes that are not UTF-8 (or not ASCII without the UTF-8 flag).
    case badEntryName(String)
    /// An entry is not inside the folder the first entry is in (`nil`: the first entry is in no folder).
    case entryOutsidePrefix(prefix: String?)
    /// Two entries have the same name (names equal as Unicode strings count as the same, so that no lookup
    /// can pick a different record than another reader would).
    case duplicateEntry
    /// The entry is encrypted.
    case encryptedEntry
    /// The entry is compressed (deflate or any method but 0, stored): mm1conv does not inflate.
    case compressedEntry(method: UInt16)
    /// A stored entry whose compressed and uncompressed sizes differ.
    case storedSizeMismatch(compressed: UInt64, uncompressed: UInt64)
    /// The entry's local header or data lies past the end of the file (or its offsets overflow).
    case entryOutOfBounds(String)
    /// The local header disagrees with the central directory (signature, name, method, flags, sizes, CRC).
    case localHeaderMismatch(String)
    /// The entry's bytes overlap another entry's, or the central directory.
    case overlappingEntries(other: String)
    /// The entry's CRC-32 differs from the central directory's (only when checked on request).
    case checksumMismatch(expected: UInt32, actual: UInt32)

    /// A stable name for the rule, used in JSON output and the malformed corpus (`"overlappingEntries"`).
    public var code: String {
        switch self {
        case .notZip: "notZip"
        case .zipTruncated: "zipTruncated"
        case .badEndRecord: "badEndRecord"
        case .multiDisk: "multiDisk"
        case .centralDirectoryOutOfBounds: "centralDirectoryOutOfBounds"
        case .centralDirectoryTooLarge: "centralDirectoryTooLarge"
        case .tooManyEntries: "tooManyEntries"
        case .badCentralEntry: "badCentralEntry"
        case .emptyArchive: "emptyArchive"
        case .badEntryName: "badEntryName"
        case .entryOutsidePrefix: "entryOutsidePrefix"
        case .duplicateEntry: "duplicateEntry"
        case .encryptedEntry: "encryptedEntry"
        case .compressedEntry: "compressedEntry"
        case .storedSizeMismatch: "storedSizeMismatch"
        case .entryOutOfBounds: "entryOutOfBounds"
        case .localHeaderMismatch: "localHeaderMismatch"
        case .overlappingEntries: "overlappingEntries"
        case .checksumMismatch: "checksumMismatch"
        }
    }

    public var description: String {
        switch self {
        case .notZip: "not a zip archive (no end of central directory record)"
        case .zipTruncated(let what): "zip archive is truncated: \(what)"
        case .badEndRecord(let why): "bad zip end record: \(why)"
        case .multiDisk: "zip archive spans several disks, which mm1conv does not read"
        case .centralDirectoryOutOfBounds(let why): "zip central directory out of bounds: \(why)"
        case .centralDirectoryTooLarge(let size, let limit): "zip central directory of \(size) bytes exceeds the limit of \(limit) bytes"
        case .tooManyEntries(let count, let limit): "zip archive declares \(count) entries, more than the limit of \(limit)"
        case .badCentralEntry(let why): "bad zip central directory entry: \(why)"
        case .emptyArchive: "zip archive holds no entries"
        case .badEntryName(let why): "entry name \(why)"
        case .entryOutsidePrefix(let prefix?): "entry is not inside the archive folder '\(prefix)/' that the first entry is in"
        case .entryOutsidePrefix(nil): "entry is not inside a folder (torch puts every record in one)"
        case .duplicateEntry: "entry name appears more than once in the central directory"
        case .encryptedEntry: "entry is encrypted"
        case .compressedEntry(let method):
            "entry is compressed (method \(method)\(method == 8 ? ", deflate" : "")); mm1conv reads stored records only and does not inflate"
        case .storedSizeMismatch(let c, let u): "stored entry has \(c) compressed bytes but \(u) uncompressed bytes"
        case .entryOutOfBounds(let why): "entry out of bounds: \(why)"
        case .localHeaderMismatch(let why): "local header does not match the central directory: \(why)"
        case .overlappingEntries(let other): "entry overlaps \(other)"
        case .checksumMismatch(let e, let a): "CRC-32 is \(Self.hex(a)) but the central directory says \(Self.hex(e))"
        }
    }

    private static func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }
}
