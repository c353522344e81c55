/// The local header of a central entry: checked against the central directory, and the entry's data located.
enum ZipLocalHeader {
    /// The bytes of `entry`'s data in `input`: local header offset (plus `shift`) + 30 + local name
    /// length + local extra length, for the central directory's size. The header and data must lie inside
    /// the input and before the central directory at `directoryStart`.
    static func dataRange(of entry: ZipCentralEntry, shift: Int, directoryStart: Int, in input: UnsafeRawBufferPointer) throws(ZipFailure) -> Range<Int> {
        func fail(_ violation: TorchZipViolation) -> ZipFailure { ZipFailure(violation, entry: entry.name) }
        let (position, overflow) = entry.localHeaderOffset.addingReportingOverflow(UInt64(shift))
        guard !overflow, position <= UInt64(input.count), let header = ZipRecord(at: Int(position), length: ZipLayout.localHeaderSize, in: input) else {
            throw fail(.entryOutOfBounds("local header at offset \(entry.localHeaderOffset) lies past the end of the file (\(input.count) bytes)"))
        }
        guard header.hasSignature(ZipLayout.localHeaderSignature) else {
            throw fail(.localHeaderMismatch("no local header signature at offset \(entry.localHeaderOffset)"))
        }
        let start = Int(position)
        let nameLength = Int(header.u16(26)), extraLength = Int(header.u16(28))
        let nameStart = start + ZipLayout.localHeaderSize
        guard let name = ZipRecord(at: nameStart, length: nameLength, in: input),
              let extra = ZipRecord(at: nameStart + nameLength, length: extraLength, in: input) else {
            throw fail(.entryOutOfBounds("local header's name or extra field runs past the end of the file"))
        }
        guard name.bytes.elementsEqual(UnsafeRawBufferPointer(rebasing: input[entry.nameBytes])) else {
            throw fail(.localHeaderMismatch("local name '\(ZipEntryName.printable(name.bytes))' differs"))
        }
        try checkFields(header, extra: extra, against: entry)

        let dataStart = nameStart + nameLength + extraLength
        let available = UInt64(input.count - dataStart)
        guard entry.size <= available else {
            throw fail(.entryOutOfBounds("\(entry.size) bytes of data at byte \(dataStart) run past the end of the file (\(input.count) bytes)"))
        }
        let data = dataStart..<(dataStart + Int(entry.size))
        guard data.upperBound <= directoryStart else { throw fail(.overlappingEntries(other: "the central directory")) }
        return data
    }

    /// Method, flags, CRC and sizes of the local header against the central entry. With a data descriptor
    /// (flag bit 3, as torch writes), the local CRC and sizes may be zero.
    private static func checkFields(_ header: ZipRecord, extra: ZipRecord, against entry: ZipCentralEntry) throws(ZipFailure) {
        func fail(_ why: String) -> ZipFailure { ZipFailure(.localHeaderMismatch(why), entry: entry.name) }
        let flags = header.u16(6)
        let compared = ZipLayout.flagEncrypted | ZipLayout.flagStrongEncryption | ZipLayout.flagDataDescriptor | ZipLayout.flagUTF8
        guard flags & compared == entry.flags & compared else { throw fail("flags 0x\(String(flags, radix: 16)) differ") }
        guard header.u16(8) == entry.method else { throw fail("method \(header.u16(8)) differs") }

        let zip64Field: UnsafeRawBufferPointer?
        switch ZipExtraFields(bytes: extra.bytes).field(ZipLayout.zip64ExtraID) {
        case .success(let field): zip64Field = field
        case .failure(let error): throw fail(error.description)
        }
        var zip64 = Zip64Values(zip64Field)
        let marker = UInt64(ZipLayout.marker32)
        guard let uncompressed = zip64.resolve(UInt64(header.u32(22)), marker: marker),
              let compressed = zip64.resolve(UInt64(header.u32(18)), marker: marker) else {
            throw fail("a size holds the ZIP64 marker but the local ZIP64 extra field lacks it")
        }
        let crc = header.u32(14)
        let descriptor = flags & ZipLayout.flagDataDescriptor != 0
        func agrees(_ local: UInt64, _ central: UInt64) -> Bool { local == central || (descriptor && local == 0) }
        guard agrees(UInt64(crc), UInt64(entry.crc32)), agrees(compressed, entry.size), agrees(uncompressed, entry.size) else {
            throw fail("local CRC 0x\(String(crc, radix: 16)), sizes \(compressed)/\(uncompressed) differ from the central directory's")
        }
    }
}
