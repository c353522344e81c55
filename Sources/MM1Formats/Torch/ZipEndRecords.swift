/// Where the central directory lies, found from the end of the input: the end of central directory record,
/// and the ZIP64 locator and record before it when present.
///
/// Bytes before the zip (a self-extractor stub, or any junk prefix) are handled as Python's `zipfile`
/// does: the central directory is taken to end where the end records begin, and the difference between
/// where it is and where its offset says it is (``shift``) is added to every offset in the archive.
/// torch's own reader (miniz) has no such shift and refuses these files.
struct ZipDirectoryLocation {
    /// Entries the end record declares.
    let entryCount: Int
    /// Where the central directory starts in the input, and its size.
    let start: Int
    let size: Int
    /// Bytes before the zip: added to every offset the archive stores.
    let shift: Int
    /// True when a ZIP64 end record gave the counts and offsets.
    let isZip64: Bool

    /// The central directory's bytes.
    var range: Range<Int> { start..<(start + size) }

    static func find(in input: UnsafeRawBufferPointer, limits: TorchZipArchive.Limits) throws(ZipFailure) -> ZipDirectoryLocation {
        let endPosition = try findEndRecord(in: input)
        let end = ZipRecord(at: endPosition, length: ZipLayout.endSize, in: input)!
        // Disk numbers, and this disk's entry count against the total.
        guard end.u16(4) == 0, end.u16(6) == 0, end.u16(8) == end.u16(10) else { throw ZipFailure(.multiDisk) }
        var count = UInt64(end.u16(10))
        var size = UInt64(end.u32(12))
        var offset = UInt64(end.u32(16))
        var recordsStart = endPosition
        var declaredZip64Position: UInt64?

        let hasLocator = endPosition >= ZipLayout.zip64LocatorSize
            && ZipRecord(at: endPosition - ZipLayout.zip64LocatorSize, length: 4, in: input)!.hasSignature(ZipLayout.zip64LocatorSignature)
        if hasLocator {
            let locator = ZipRecord(at: endPosition - ZipLayout.zip64LocatorSize, length: ZipLayout.zip64LocatorSize, in: input)!
            guard locator.u32(4) == 0, locator.u32(16) <= 1 else { throw ZipFailure(.multiDisk) }
            let position = endPosition - ZipLayout.zip64LocatorSize - ZipLayout.zip64EndSize
            guard let record = ZipRecord(at: position, length: ZipLayout.zip64EndSize, in: input) else {
                throw ZipFailure(.zipTruncated("the ZIP64 end record its locator announces is cut off"))
            }
            guard record.hasSignature(ZipLayout.zip64EndSignature) else {
                throw ZipFailure(.badEndRecord("no ZIP64 end record right before its locator"))
            }
            guard record.u64(4) == UInt64(ZipLayout.zip64EndSize - 12) else {
                throw ZipFailure(.badEndRecord("ZIP64 end record declares \(record.u64(4)) bytes, not 44 (extensible data is not read)"))
            }
            guard record.u32(16) == 0, record.u32(20) == 0, record.u64(24) == record.u64(32) else { throw ZipFailure(.multiDisk) }
            // The 16/32-bit fields either hold the marker or the same value as the ZIP64 record.
            let (count64, size64, offset64) = (record.u64(32), record.u64(40), record.u64(48))
            guard count == UInt64(ZipLayout.marker16) || count == count64,
                  size == UInt64(ZipLayout.marker32) || size == size64,
                  offset == UInt64(ZipLayout.marker32) || offset == offset64 else {
                throw ZipFailure(.badEndRecord("end record and ZIP64 end record disagree on the central directory"))
            }
            (count, size, offset) = (count64, size64, offset64)
            recordsStart = position
            declaredZip64Position = locator.u64(8)
        } else if size == UInt64(ZipLayout.marker32) || offset == UInt64(ZipLayout.marker32) {
            throw ZipFailure(.badEndRecord("end record defers to a ZIP64 end record, but there is no ZIP64 locator"))
        }

        guard count <= UInt64(limits.maxEntries) else { throw ZipFailure(.tooManyEntries(count: count, limit: limits.maxEntries)) }
        guard size <= UInt64(limits.maxCentralDirectoryBytes) else {
            throw ZipFailure(.centralDirectoryTooLarge(size: size, limit: limits.maxCentralDirectoryBytes))
        }
        // Both now fit in Int. The central directory ends where the end records begin.
        guard Int(size) <= recordsStart else {
            throw ZipFailure(.centralDirectoryOutOfBounds("\(size) bytes do not fit before the end record at byte \(recordsStart)"))
        }
        let start = recordsStart - Int(size)
        guard offset <= UInt64(start) else {
            throw ZipFailure(.centralDirectoryOutOfBounds("declared at offset \(offset) with \(size) bytes, past the end record at byte \(recordsStart)"))
        }
        let shift = start - Int(offset)
        if let declaredZip64Position {
            let (expected, overflow) = declaredZip64Position.addingReportingOverflow(UInt64(shift))
            guard !overflow, expected == UInt64(recordsStart) else {
                throw ZipFailure(.badEndRecord("ZIP64 locator points at offset \(declaredZip64Position), not where the ZIP64 end record is"))
            }
        }
        guard count <= UInt64(size / UInt64(ZipLayout.centralHeaderSize)) else {
            throw ZipFailure(.badCentralEntry("\(count) entries cannot fit in a central directory of \(size) bytes"))
        }
        return ZipDirectoryLocation(entryCount: Int(count), start: start, size: Int(size), shift: shift, isZip64: hasLocator)
    }

    /// The position of the end of central directory record: the last signature, within the last
    /// 65,535 + 22 bytes, whose comment ends exactly at the end of the input.
    static func findEndRecord(in input: UnsafeRawBufferPointer) throws(ZipFailure) -> Int {
        let missing = TorchZipArchive.hasMagic(input)
            ? ZipFailure(.zipTruncated("the file starts as a zip but has no end of central directory record"))
            : ZipFailure(.notZip)
        guard input.count >= ZipLayout.endSize else { throw missing }
        let lowest = max(0, input.count - ZipLayout.endSize - ZipLayout.maxCommentLength)
        var nearest: Int?
        var position = input.count - ZipLayout.endSize
        while position >= lowest {
            let record = ZipRecord(at: position, length: ZipLayout.endSize, in: input)!
            if record.hasSignature(ZipLayout.endSignature) {
                if position + ZipLayout.endSize + Int(record.u16(20)) == input.count { return position }
                nearest = nearest ?? position
            }
            position -= 1
        }
        guard let nearest else { throw missing }
        let comment = Int(ZipRecord(at: nearest, length: ZipLayout.endSize, in: input)!.u16(20))
        let ends = nearest + ZipLayout.endSize + comment
        if ends > input.count {
            throw ZipFailure(.zipTruncated("the end record's \(comment)-byte comment runs past the end of the file"))
        }
        throw ZipFailure(.badEndRecord("\(input.count - ends) bytes follow the end of central directory record"))
    }
}
