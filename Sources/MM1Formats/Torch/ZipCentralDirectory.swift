/// One central directory entry, its ZIP64 fields resolved, checked for what the central directory alone
/// can show: name, encryption, method, sizes.
struct ZipCentralEntry {
    /// The name as stored (prefix included) and where its bytes are in the input.
    let name: String
    let nameBytes: Range<Int>
    let flags: UInt16
    let method: UInt16
    let crc32: UInt32
    let size: UInt64
    /// The local header's offset as stored (without the shift of bytes before the zip).
    let localHeaderOffset: UInt64
}

enum ZipCentralDirectory {
    /// Every entry of the central directory at `location`, in its order. The entries must fill the
    /// central directory exactly.
    static func entries(in input: UnsafeRawBufferPointer, at location: ZipDirectoryLocation) throws(ZipFailure) -> [ZipCentralEntry] {
        var entries: [ZipCentralEntry] = []
        entries.reserveCapacity(location.entryCount)  // at most size / 46, itself capped
        var position = location.start
        let end = location.start + location.size
        for index in 0..<location.entryCount {
            let (entry, next) = try entry(index, at: position, end: end, in: input)
            entries.append(entry)
            position = next
        }
        guard position == end else {
            throw ZipFailure(.badCentralEntry("\(end - position) bytes of the central directory follow its last declared entry"))
        }
        return entries
    }

    /// The entry at `position`, and where the next one starts.
    private static func entry(_ index: Int, at position: Int, end: Int, in input: UnsafeRawBufferPointer) throws(ZipFailure) -> (ZipCentralEntry, Int) {
        let directory = UnsafeRawBufferPointer(rebasing: input[..<end])
        guard let header = ZipRecord(at: position, length: ZipLayout.centralHeaderSize, in: directory) else {
            throw ZipFailure(.badCentralEntry("entry \(index) runs past the end of the central directory"))
        }
        guard header.hasSignature(ZipLayout.centralHeaderSignature) else {
            throw ZipFailure(.badCentralEntry("entry \(index) has no central header signature"))
        }
        let nameLength = Int(header.u16(28)), extraLength = Int(header.u16(30)), commentLength = Int(header.u16(32))
        let nameStart = position + ZipLayout.centralHeaderSize
        let variable = nameLength + extraLength + commentLength
        guard let name = ZipRecord(at: nameStart, length: nameLength, in: directory),
              let extra = ZipRecord(at: nameStart + nameLength, length: extraLength, in: directory),
              ZipRecord(at: nameStart, length: variable, in: directory) != nil else {
            throw ZipFailure(.badCentralEntry("entry \(index)'s name, extra field or comment runs past the end of the central directory"))
        }
        let flags = header.u16(8), method = header.u16(10)
        let stored: String
        switch ZipEntryName.validate(name.bytes, utf8Flag: flags & ZipLayout.flagUTF8 != 0) {
        case .success(let s): stored = s
        case .failure(let violation): throw ZipFailure(violation, entry: ZipEntryName.printable(name.bytes))
        }
        func fail(_ violation: TorchZipViolation) -> ZipFailure { ZipFailure(violation, entry: stored) }

        let zip64Field: UnsafeRawBufferPointer?
        switch ZipExtraFields(bytes: extra.bytes).field(ZipLayout.zip64ExtraID) {
        case .success(let field): zip64Field = field
        case .failure(let error): throw fail(.badCentralEntry(error.description))
        }
        var zip64 = Zip64Values(zip64Field)
        let marker = UInt64(ZipLayout.marker32)
        guard let uncompressed = zip64.resolve(UInt64(header.u32(24)), marker: marker),
              let compressed = zip64.resolve(UInt64(header.u32(20)), marker: marker),
              let offset = zip64.resolve(UInt64(header.u32(42)), marker: marker),
              let disk = zip64.resolve(UInt64(header.u16(34)), marker: UInt64(ZipLayout.marker16), width: 4) else {
            throw fail(.badCentralEntry("a size or offset holds the ZIP64 marker but the ZIP64 extra field lacks it"))
        }
        guard disk == 0 else { throw fail(.multiDisk) }
        let encryptionFlags = ZipLayout.flagEncrypted | ZipLayout.flagStrongEncryption | ZipLayout.flagMaskedHeaders
        guard flags & encryptionFlags == 0, method != ZipLayout.methodAES else { throw fail(.encryptedEntry) }
        guard method == ZipLayout.methodStored else { throw fail(.compressedEntry(method: method)) }
        guard compressed == uncompressed else { throw fail(.storedSizeMismatch(compressed: compressed, uncompressed: uncompressed)) }
        let entry = ZipCentralEntry(name: stored, nameBytes: nameStart..<(nameStart + nameLength), flags: flags, method: method,
                                    crc32: header.u32(16), size: compressed, localHeaderOffset: offset)
        return (entry, nameStart + variable)
    }
}
