import Foundation
import MM1Formats
import MM1Tensor
import MM1TestSupport
import Testing

/// An archive of Tests/Fixtures/torch-zip that must read, and what it holds (expected.json, written by
/// Tests/Fixtures/generate_torch_zip.py from Python's zipfile view of the same bytes).
struct TorchZipFixture: Sendable, CustomTestStringConvertible {
    let name: String
    let prefix: String
    let zipOffset: Int
    /// name -> (range, crc32)
    let entries: [String: (Range<Int>, UInt32)]
    var testDescription: String { name }
    var path: String { Fixtures.path("torch-zip/\(name)") }

    static let all: [TorchZipFixture] = {
        guard let file = try? MappedFile(path: Fixtures.path("torch-zip/expected.json")),
              case .object(let top)? = withExtendedLifetime(file, { try? StrictJSONParser().parse(file.bytes) }) else { return [] }
        return top.members.map { name, value in
            let o = value.object!
            let entries = o["entries"]!.object!.members.map { key, row in
                let r = row.array!.map { $0.uint64! }
                return (key, (Int(r[0])..<Int(r[1]), UInt32(r[2])))
            }
            return TorchZipFixture(name: name, prefix: o["prefix"]!.string!, zipOffset: o["zipOffset"]!.int!,
                                   entries: Dictionary(uniqueKeysWithValues: entries))
        }.sorted { $0.name < $1.name }
    }()

    static func named(_ name: String) -> TorchZipFixture { all.first { $0.name == name }! }
}

@Suite struct TorchZipArchiveTests {
    static let malformed = MalformedCase.all("torch-zip")

    @Test("the fixtures are there: torch-shaped, Python zipfile, junk prefix, reversed order, end-record markers")
    func fixturesPresent() {
        let names = Set(TorchZipFixture.all.map(\.name))
        for name in ["torch_shaped.pt", "python_zipfile.pt", "junk_prefix.pt", "reversed_order.pt", "eocd_markers.pt", "tiny_prefix.pt",
                     "zip64_extra_fields.pt", "torch_save_file.pt", "torch_save_buffer.pt", "torch_save_align4096_nocrc.pt"] {
            #expect(names.contains(name), "missing \(name)")
        }
    }

    @Test("each valid archive reads to the entries, ranges and CRCs Python's zipfile sees", arguments: TorchZipFixture.all)
    func reads(_ f: TorchZipFixture) throws {
        let mapping = try MappedFile(path: f.path)
        let archive = try TorchZipArchive(mapping)
        #expect(archive.file == f.path)
        #expect(archive.prefix == f.prefix)
        #expect(archive.zipOffset == f.zipOffset)
        #expect(archive.entries.count == f.entries.count)
        for entry in archive.entries {
            let expected = try #require(f.entries[entry.name], "\(entry.name) is not in the fixture")
            #expect(entry.range == expected.0, "\(entry.name)")
            #expect(entry.crc32 == expected.1, "\(entry.name)")
            #expect(entry.storedName == "\(f.prefix)/\(entry.name)")
            #expect(archive[entry.name] == entry)
            if entry.crc32 != 0 || entry.range.isEmpty {
                try archive.verifyChecksum(of: entry, in: mapping.bytes)
            } else {  // written with CRC-32s off: the central directory records 0
                #expect(throws: FormatError.self) { try archive.verifyChecksum(of: entry, in: mapping.bytes) }
            }
        }
        #expect(archive["no/such/record"] == nil)
    }

    @Test("torch-shaped records: data aligned to 64 bytes, contents as written, ZIP64 end records")
    func torchShaped() throws {
        let mapping = try MappedFile(path: TorchZipFixture.named("torch_shaped.pt").path)
        let archive = try TorchZipArchive(mapping)
        #expect(archive.isZip64)
        #expect(archive.entries.map(\.name) == ["data.pkl", ".format_version", ".storage_alignment", "byteorder", "data/0", "data/1",
                                                 "version", ".data/serialization_id"])
        for entry in archive.entries { #expect(entry.range.lowerBound % 64 == 0, "\(entry.name)") }
        let text = { (name: String) in String(decoding: archive.bytes(of: archive[name]!, in: mapping.bytes), as: UTF8.self) }
        #expect(text("byteorder") == "little")
        #expect(text("version") == "3\n")
        #expect(Array(archive.bytes(of: archive["data/1"]!, in: mapping.bytes)) == Array(0..<7))
    }

    @Test("archives written by torch.save: folder from the file's base name or 'archive', records aligned as configured",
          arguments: [("torch_save_file.pt", "torch_save_file", 64), ("torch_save_buffer.pt", "archive", 64),
                      ("torch_save_align4096_nocrc.pt", "torch_save_align4096_nocrc", 4096)])
    func torchSave(_ name: String, prefix: String, alignment: Int) throws {
        let mapping = try MappedFile(path: TorchZipFixture.named(name).path)
        let archive = try TorchZipArchive(mapping)
        #expect(archive.prefix == prefix && archive.isZip64 && archive.zipOffset == 0)
        #expect(Set(archive.entries.map(\.name)) == ["data.pkl", "data/0", "data/1", "data/2", "byteorder", "version", ".format_version",
                                                    ".storage_alignment", ".data/serialization_id"])
        for entry in archive.entries { #expect(entry.range.lowerBound % alignment == 0, "\(entry.name)") }
        let text = { (name: String) in String(decoding: archive.bytes(of: archive[name]!, in: mapping.bytes), as: UTF8.self) }
        #expect(text("byteorder") == "little")
        #expect(text(".storage_alignment") == "\(alignment)")
        // data/0 is torch.arange(12, dtype=float32).
        let floats = archive.bytes(of: archive["data/0"]!, in: mapping.bytes).withMemoryRebound(to: Float.self) { Array($0) }
        #expect(floats == (0..<12).map(Float.init))
    }

    @Test("bytes before the zip shift every offset, as Python's zipfile reads them; records are the same bytes")
    func junkPrefix() throws {
        let plain = try MappedFile(path: TorchZipFixture.named("torch_shaped.pt").path)
        let junk = try MappedFile(path: TorchZipFixture.named("junk_prefix.pt").path)
        let a = try TorchZipArchive(plain), b = try TorchZipArchive(junk)
        #expect(b.zipOffset > 0 && b.zipOffset == junk.size - plain.size)
        #expect(TorchZipArchive.hasMagic(plain.bytes) && !TorchZipArchive.hasMagic(junk.bytes))
        for entry in a.entries {
            let shifted = try #require(b[entry.name])
            #expect(shifted.range == entry.range.lowerBound + b.zipOffset..<entry.range.upperBound + b.zipOffset)
            #expect(Array(b.bytes(of: shifted, in: junk.bytes)) == Array(a.bytes(of: entry, in: plain.bytes)))
        }
    }

    @Test("a central directory listing the entries in reverse order reads the same records")
    func reversedOrder() throws {
        let a = try TorchZipArchive(MappedFile(path: TorchZipFixture.named("torch_shaped.pt").path))
        let b = try TorchZipArchive(MappedFile(path: TorchZipFixture.named("reversed_order.pt").path))
        #expect(b.entries.map(\.name) == a.entries.map(\.name).reversed())
        for entry in a.entries { #expect(b[entry.name] == entry) }
    }

    @Test("an archive past 4 GiB (a sparse file): sizes and offsets from ZIP64 extra fields, no data read")
    func over4GiB() throws {
        let json = try MappedFile(path: Fixtures.path("torch-zip/sparse_over_4gib.json"))
        let doc = try withExtendedLifetime(json) { try StrictJSONParser().parse(json.bytes) }.object!
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("big.pt")
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        for piece in doc["pieces"]!.array!.map({ $0.array! }) {
            try handle.seek(toOffset: piece[0].uint64!)
            try handle.write(contentsOf: Data(base64Encoded: piece[1].string!)!)
        }
        try handle.truncate(atOffset: doc["size"]!.uint64!)  // the 5 GiB of data/0 are a hole: no disk used
        try handle.close()

        let mapping = try MappedFile(path: path)
        let archive = try TorchZipArchive(mapping)
        #expect(archive.prefix == doc["prefix"]!.string! && archive.isZip64)
        let expected = doc["entries"]!.object!
        #expect(archive.entries.count == expected.count)
        for (name, row) in expected.members {
            let r = row.array!.map { Int($0.uint64!) }
            #expect(archive[name]?.range == r[0]..<r[1], "\(name)")
            #expect(archive[name]?.crc32 == UInt32(r[2]), "\(name)")
        }
        #expect(archive["data/0"]!.range.count == 5 << 30)
        try archive.verifyChecksum(of: archive["data.pkl"]!, in: mapping.bytes)
    }

    @Test("the malformed corpus is there and covers every rule")
    func corpusPresent() {
        #expect(Self.malformed.count >= 40)
        let reasons = Set(Self.malformed.map(\.reason))
        for rule in ["notZip", "zipTruncated", "badEndRecord", "multiDisk", "centralDirectoryOutOfBounds", "centralDirectoryTooLarge",
                     "tooManyEntries", "badCentralEntry", "emptyArchive", "badEntryName", "entryOutsidePrefix", "duplicateEntry",
                     "encryptedEntry", "compressedEntry", "storedSizeMismatch", "entryOutOfBounds", "localHeaderMismatch",
                     "overlappingEntries"] {
            #expect(reasons.contains(rule), "no malformed case for \(rule)")
        }
    }

    @Test("each malformed archive is refused with its rule, the file and the entry at fault", arguments: malformed)
    func refused(_ c: MalformedCase) throws {
        let mapping = try MappedFile(path: c.path)
        let error = #expect(throws: FormatError.self) { try TorchZipArchive(mapping) }
        guard let error, case .torchZip(let violation) = error.reason else {
            Issue.record("\(c.name): expected a torch zip violation, got \(String(describing: error))")
            return
        }
        #expect(violation.code == c.reason, "\(c.name): \(error)")
        #expect(error.file == c.path)
        #expect(error.tensor == c.raw["entry"]?.string, "\(c.name): \(error)")
        #expect(error.description.hasPrefix(c.path))
        if error.tensor != nil { #expect(error.description.contains("entry '"), "\(error)") }
    }

    @Test("a deflate bomb (65 KB inflating to 64 MiB) is refused by its method, without inflating anything")
    func deflateBomb() throws {
        let path = Fixtures.path("malformed/torch-zip/deflate_bomb.pt")
        let mapping = try MappedFile(path: path)
        #expect(mapping.size < 100_000)
        #expect(throws: FormatError(.torchZip(.compressedEntry(method: 8)), file: path, tensor: "archive/data/0")) {
            try TorchZipArchive(mapping)
        }
    }

    @Test("the caps on entries and central directory size are named and enforced before parsing")
    func limits() throws {
        let path = TorchZipFixture.named("torch_shaped.pt").path
        let mapping = try MappedFile(path: path)
        var limits = TorchZipArchive.Limits()
        limits.maxEntries = 4
        #expect(throws: FormatError(.torchZip(.tooManyEntries(count: 8, limit: 4)), file: path)) { try TorchZipArchive(mapping, limits: limits) }
        limits = TorchZipArchive.Limits()
        limits.maxCentralDirectoryBytes = 100
        let error = #expect(throws: FormatError.self) { try TorchZipArchive(mapping, limits: limits) }
        #expect(error?.reason == .torchZip(.centralDirectoryTooLarge(size: UInt64(Self.centralSize(mapping)), limit: 100)))
    }

    static func centralSize(_ mapping: MappedFile) -> Int {
        // The ZIP64 end record (56 bytes) precedes the locator (20) and the end record (22, no comment); the
        // central directory's size is at its byte 40.
        Int(mapping.bytes.loadUnaligned(fromByteOffset: mapping.size - 98 + 40, as: UInt64.self).littleEndian)
    }

    @Test("CRC-32s are not checked on open, and are on request")
    func checksum() throws {
        let mapping = try MappedFile(path: TorchZipFixture.named("torch_shaped.pt").path)
        var bytes = Array(mapping.bytes)
        let archive = try TorchZipArchive(mapping)
        let entry = archive["data/0"]!
        bytes[entry.range.lowerBound] ^= 0xFF
        try bytes.withUnsafeBytes { buffer in
            let damaged = try TorchZipArchive(bytes: buffer, file: "damaged")
            #expect(damaged["data/0"] == entry)
            let error = #expect(throws: FormatError.self) { try damaged.verifyChecksum(of: entry, in: buffer) }
            #expect(error?.reason.torchZipCode == "checksumMismatch" && error?.tensor == "archive/data/0")
            try damaged.verifyChecksum(of: damaged["data/1"]!, in: buffer)
        }
    }

    @Test("every truncation and every single-byte change of an archive reads or is refused with a typed error, never traps")
    func mutations() throws {
        let mapping = try MappedFile(path: TorchZipFixture.named("torch_shaped.pt").path)
        let original = Array(mapping.bytes)
        var refused = 0
        func attempt(_ bytes: [UInt8]) {
            bytes.withUnsafeBytes { buffer in
                do { _ = try TorchZipArchive(bytes: buffer, file: "mutant") } catch { refused += 1 }
            }
        }
        for length in 0..<original.count { attempt(Array(original[..<length])) }
        #expect(refused == original.count)
        for position in original.indices {
            for value: UInt8 in [0x00, 0xFF, original[position] ^ 0x01] where value != original[position] {
                var mutant = original
                mutant[position] = value
                attempt(mutant)
            }
        }
        #expect(refused > original.count)
    }
}

extension FormatError.Reason {
    /// The torch zip rule broken, if that is what this is.
    var torchZipCode: String? { if case .torchZip(let v) = self { v.code } else { nil } }
}
