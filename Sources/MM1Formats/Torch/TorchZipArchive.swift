import MM1Tensor

/// The zip container of a `torch.save` checkpoint (torch ≥ 1.6), validated whole before any record is
/// read: every entry is a stored (uncompressed) record whose bytes can be viewed in place, zero-copy.
///
/// What is read, and how strictly:
/// - The central directory is the authority. The end of central directory record is searched for
///   backwards over the last 65,535 + 22 bytes (its comment ends exactly at the end of the file); its
///   ZIP64 locator and record are followed when present (torch always writes them), every central
///   entry is read with its ZIP64 extended-information extra field, and each local header is checked
///   against it (signature, name, method, flags, and sizes and CRC unless a data descriptor defers
///   them). An entry's data starts at local header offset + 30 + local name length + local extra
///   length (torch pads that extra field so data lands on a 64-byte boundary) and has the central size.
/// - Entry order in the file is not relied on; entries may not overlap each other or the central
///   directory.
/// - Refused, each with its own ``TorchZipViolation``: compressed entries (deflate included: mm1conv
///   does not inflate), encrypted entries, multi-disk archives, stored entries whose two sizes differ,
///   duplicate names, names that are absolute or hold `..`, `.`, empty components, backslashes, NUL or
///   control characters, entries outside the one folder every record shares (``prefix``), and more
///   entries or a larger central directory than ``Limits`` allow.
/// - Bytes before the zip (a self-extractor stub or any junk prefix) are accepted the way Python's
///   `zipfile` accepts them: the central directory is taken to end where the end records begin, and the
///   difference from its stored offset (``zipOffset``) is added to every stored offset. (torch's own
///   reader, and `torch.load`'s zip detection on the first 4 bytes, do not accept such files.)
/// - CRC-32s are **not** checked when the archive is opened: torch can write archives with CRC
///   computation switched off, and checking means reading every byte. ``verifyChecksum(of:in:)`` checks
///   one entry on request.
///
/// Every number read from the file goes through checked arithmetic, nothing is allocated by a size the
/// file declares beyond the capped entry count, and every loop is bounded by the input's size.
package struct TorchZipArchive: Sendable {
    /// Named caps on what an archive may declare, checked before anything is allocated for it.
    package struct Limits: Sendable, Equatable {
        /// Most entries (a checkpoint holds one per storage, plus a few records).
        package var maxEntries = 1_000_000
        /// Largest central directory, in bytes.
        package var maxCentralDirectoryBytes = 128 << 20

        package init() {}

        /// The defaults.
        package static let standard = Limits()
    }

    /// One stored record of the archive.
    package struct Entry: Sendable, Equatable {
        /// The name inside the archive folder: `data.pkl`, `data/0`, `byteorder`, `.data/version`, ….
        package let name: String
        /// The name as the archive stores it, folder included (`archive/data.pkl`).
        package let storedName: String
        /// Where the record's bytes are in the file (or the buffer the archive was read from).
        package let range: Range<Int>
        /// The CRC-32 the central directory records (0 when the writer had CRCs switched off).
        package let crc32: UInt32
    }

    /// The file as the user named it (or the display name given with the bytes).
    package let file: String
    /// The folder every entry is in, without its slash: the saved file's base name, or `archive`.
    package let prefix: String
    /// Every entry, in central directory order.
    package let entries: [Entry]
    /// Bytes before the zip itself (0 for a file written by torch): added to every offset it stores.
    package let zipOffset: Int
    /// True when ZIP64 end records describe the central directory.
    package let isZip64: Bool
    private let index: [String: Int]

    /// True when `bytes` begin with a zip local header signature (`PK\u{3}\u{4}`): how `torch.load` tells its
    /// zip format from the legacy one. Dispatch on this, as torch does, so that a file torch reads as a
    /// legacy pickle is never read as a zip found at its end.
    package static func hasMagic(_ bytes: UnsafeRawBufferPointer) -> Bool {
        ZipRecord(at: 0, length: 4, in: bytes)?.hasSignature(ZipLayout.localHeaderSignature) ?? false
    }

    /// Reads the archive in a mapped file; the entries' ranges are offsets into `mapping.bytes`.
    /// - Throws: ``FormatError`` with a ``TorchZipViolation``, naming the mapping's path and the entry at fault.
    package init(_ mapping: MappedFile, limits: Limits = .standard) throws(FormatError) {
        try self.init(bytes: mapping.bytes, file: mapping.path, limits: limits)
    }

    /// Reads the archive in `bytes` (a file's mapping, or a buffer: fuzzing); `file` names it in errors.
    /// Nothing of `bytes` is kept: the entries' ranges are offsets into it.
    /// - Throws: ``FormatError`` with a ``TorchZipViolation``.
    package init(bytes: UnsafeRawBufferPointer, file: String, limits: Limits = .standard) throws(FormatError) {
        self.file = file
        do throws(ZipFailure) {
            let location = try ZipDirectoryLocation.find(in: bytes, limits: limits)
            let central = try ZipCentralDirectory.entries(in: bytes, at: location)
            guard !central.isEmpty else { throw ZipFailure(.emptyArchive) }
            let prefix = try Self.prefix(of: central)
            var entries: [Entry] = []
            var index: [String: Int] = [:]
            entries.reserveCapacity(central.count)
            index.reserveCapacity(central.count)
            for entry in central {
                let name = String(entry.name.utf8.dropFirst(prefix.utf8.count + 1))!
                guard index.updateValue(entries.count, forKey: name) == nil else { throw ZipFailure(.duplicateEntry, entry: entry.name) }
                let range = try ZipLocalHeader.dataRange(of: entry, shift: location.shift, directoryStart: location.start, in: bytes)
                entries.append(Entry(name: name, storedName: entry.name, range: range, crc32: entry.crc32))
            }
            try Self.checkOverlaps(entries, headers: central.map { Int($0.localHeaderOffset) + location.shift })
            self.prefix = prefix
            self.entries = entries
            self.index = index
            zipOffset = location.shift
            isZip64 = location.isZip64
        } catch {
            throw FormatError(.torchZip(error.violation), file: file, tensor: error.entry)
        }
    }

    /// The entry named `name` inside the archive folder (`data/0`), if there is one.
    package subscript(name: String) -> Entry? { index[name].map { entries[$0] } }

    /// The bytes of `entry` in `bytes`, the buffer (or mapping) the archive was read from.
    package func bytes(of entry: Entry, in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[entry.range])
    }

    /// Checks `entry`'s bytes in `bytes` (the buffer the archive was read from) against the CRC-32 the
    /// central directory records. Not done when opening: see the type's documentation.
    /// - Throws: ``FormatError`` with ``TorchZipViolation/checksumMismatch(expected:actual:)``.
    package func verifyChecksum(of entry: Entry, in bytes: UnsafeRawBufferPointer) throws(FormatError) {
        let actual = CRC32.checksum(self.bytes(of: entry, in: bytes))
        guard actual == entry.crc32 else {
            throw FormatError(.torchZip(.checksumMismatch(expected: entry.crc32, actual: actual)), file: file, tensor: entry.storedName)
        }
    }

    /// The folder the first central entry is in; every entry must be in it.
    private static func prefix(of central: [ZipCentralEntry]) throws(ZipFailure) -> String {
        guard let slash = central[0].name.utf8.firstIndex(of: UInt8(ascii: "/")) else {
            throw ZipFailure(.entryOutsidePrefix(prefix: nil), entry: central[0].name)
        }
        let prefix = String(central[0].name.utf8[..<slash])!
        let folder = Array(prefix.utf8) + [UInt8(ascii: "/")]
        for entry in central where !entry.name.utf8.starts(with: folder) {
            throw ZipFailure(.entryOutsidePrefix(prefix: prefix), entry: entry.name)
        }
        return prefix
    }

    /// Each entry's local header and data, in file order, must end before the next entry's header starts.
    private static func checkOverlaps(_ entries: [Entry], headers: [Int]) throws(ZipFailure) {
        let order = entries.indices.sorted { (headers[$0], $0) < (headers[$1], $1) }
        for (previous, next) in zip(order, order.dropFirst()) where entries[previous].range.upperBound > headers[next] {
            throw ZipFailure(.overlappingEntries(other: "entry '\(entries[previous].storedName)'"), entry: entries[next].storedName)
        }
    }
}
