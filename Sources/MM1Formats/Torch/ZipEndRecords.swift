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

    /// What the end records declare: entry count, central directory size and offset, where the end records
    /// begin, and where the ZIP64 locator says the ZIP64 end record is.
    private struct Declared {
        var count: UInt64
        var size: UInt64
        var offset: UInt64
        var recordsStart: Int
        var zip64Position: UInt64?
    }

    static func find(in input: UnsafeRawBufferPointer, limits: TorchZipArchive.Limits) throws(ZipFailure) -> ZipDirectoryLocation {
        let endPosition = try findEndRecord(in: input)
        let end = ZipRecord(at: endPosition, length: ZipLayout.endSize, in: input)!
        // Disk numbers, and this disk's entry count against the total.
        guard end.u16(4) == 0, end.u16(6) == 0, end.u16(8) == end.u16(10) else { throw ZipFailure(.multiDisk) }
        var declared = Declared(count: UInt64(end.u16(10)), size: UInt64(end.u32(12)), offset: UInt64(end.u32(16)),
                                recordsStart: endPosition, zip64Position: nil)
        let locatorPosition = endPosition - ZipLayout.zip64LocatorSize
        if let locator = ZipRecord(at: locatorPosition, length: ZipLayout.zip64LocatorSize, in: input),
           locator.hasSignature(ZipLayout.zip64LocatorSignature) {
            try readZip64(locator, at: locatorPosition, in: input, into: &declared)
        } else if declared.size == UInt64(ZipLayout.marker32) || declared.offset == UInt64(ZipLayout.marker32) {
            throw ZipFailure(.badEndRecord("end record defers to a ZIP64 end record, but there is no ZIP64 locator"))
        }
        return try place(declared, limits: limits)
    }

    /// The ZIP64 end record, right before its `locator`: its values replace the end record's, which must
    /// each hold the marker or the same value.
    private static func readZip64(_ locator: ZipRecord, at locatorPosition: Int, in input: UnsafeRawBufferPointer,
                                  into declared: inout Declared) throws(ZipFailure) {
        guard locator.u32(4) == 0, locator.u32(16) <= 1 else { throw ZipFailure(.multiDisk) }
        let position = locatorPosition - ZipLayout.zip64EndSize
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
        let (count, size, offset) = (record.u64(32), record.u64(40), record.u64(48))
        guard declared.count == UInt64(ZipLayout.marker16) || declared.count == count,
              declared.size == UInt64(ZipLayout.marker32) || declared.size == size,
              declared.offset == UInt64(ZipLayout.marker32) || declared.offset == offset else {
            throw ZipFailure(.badEndRecord("end record and ZIP64 end record disagree on the central directory"))
        }
        declared = Declared(count: count, size: size, offset: offset, recordsStart: position, zip64Position: locator.u64(8))
    }

    /// The caps, then the central directory placed right before the end records; the shift is what its
    /// declared offset lacks to get there.
    private static func place(_ declared: Declared, limits: TorchZipArchive.Limits) throws(ZipFailure) -> ZipDirectoryLocation {
        let (count, size, offset, recordsStart) = (declared.count, declared.size, declared.offset, declared.recordsStart)
        guard count <= UInt64(limits.maxEntries) else { throw ZipFailure(.tooManyEntries(count: count, limit: limits.maxEntries)) }
        guard size <= UInt64(limits.maxCentralDirectoryBytes) else {
            throw ZipFailure(.centralDirectoryTooLarge(size: size, limit: limits.maxCentralDirectoryBytes))
        }
        // Both now fit in Int.
        guard Int(size) <= recordsStart else {
            throw ZipFailure(.centralDirectoryOutOfBounds("\(size) bytes do not fit before the end record at byte \(recordsStart)"))
        }
        let start = recordsStart - Int(size)
        guard offset <= UInt64(start) else {
            throw ZipFailure(.centralDirectoryOutOfBounds("declared at offset \(offset) with \(size) bytes, past the end record at byte \(recordsStart)"))
        }
        let shift = start - Int(offset)
        if let declaredPosition = declared.zip64Position {
            let (expected, overflow) = declaredPosition.addingReportingOverflow(UInt64(shift))
            guard !overflow, expected == UInt64(recordsStart) else {
                throw ZipFailure(.badEndRecord("ZIP64 locator points at offset \(declaredPosition), not where the ZIP64 end record is"))
            }
        }
        guard count <= UInt64(size / UInt64(ZipLayout.centralHeaderSize)) else {
            throw ZipFailure(.badCentralEntry("\(count) entries cannot fit in a central directory of \(size) bytes"))
        }
        return ZipDirectoryLocation(entryCount: Int(count), start: start, size: Int(size), shift: shift,
                                    isZip64: declared.zip64Position != nil)
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
