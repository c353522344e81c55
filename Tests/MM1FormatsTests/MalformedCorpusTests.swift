import Foundation
import MM1Formats
import MM1Tensor
import MM1TestSupport
import Testing

/// One crafted bad input and the error it must produce (Tests/Fixtures/malformed/*/expected.json,
/// made by Tests/Fixtures/generate_malformed.py).
struct MalformedCase: Sendable, CustomTestStringConvertible {
    let format: String
    let name: String
    let reason: String
    let tensor: String?
    let json: String?
    let raw: [String: JSONValue]
    var testDescription: String { "\(format)/\(name)" }
    var path: String { Fixtures.path("malformed/\(format)/\(name)") }

    static func all(_ format: String) -> [MalformedCase] {
        guard let file = try? MappedFile(path: Fixtures.path("malformed/\(format)/expected.json")),
              case .object(let top)? = withExtendedLifetime(file, { try? StrictJSONParser().parse(file.bytes) }) else { return [] }
        return top.members.map { (name, value) in
            let o = value.object!
            return MalformedCase(format: format, name: name, reason: o["reason"]!.string!, tensor: o["tensor"]?.string,
                                 json: o["json"]?.string, raw: Dictionary(uniqueKeysWithValues: o.members.map { ($0.key, $0.value) }))
        }.sorted { $0.name < $1.name }
    }
}

@Suite struct MalformedCorpusTests {
    static let safetensorsCases = MalformedCase.all("safetensors")
    static let indexCases = MalformedCase.all("index")

    @Test("the corpus is there and covers every rule")
    func corpusPresent() {
        #expect(Self.safetensorsCases.count >= 30)
        #expect(Self.indexCases.count >= 8)
        let reasons = Set(Self.safetensorsCases.map(\.reason))
        for rule in ["truncatedHeaderLength", "headerTooLarge", "headerTruncated", "headerNotJSON", "headerNotObject", "invalidMetadata",
                     "invalidTensorEntry", "duplicateTensorName", "unknownDType", "invalidShape", "invalidOffsets", "sizeOverflow",
                     "misalignedSubByte", "byteCountMismatch", "dataGap", "dataOverlap", "trailingBytes", "dataTruncated"] {
            #expect(reasons.contains(rule), "no malformed case for \(rule)")
        }
    }

    @Test("each malformed safetensors file is refused with its rule, file and tensor", arguments: safetensorsCases)
    func safetensors(_ c: MalformedCase) throws {
        let error = #expect(throws: FormatError.self) { try SafetensorsFile(path: c.path) }
        guard let error, case .safetensors(let violation) = error.reason else {
            Issue.record("\(c.name): expected a safetensors violation, got \(String(describing: error))")
            return
        }
        #expect(violation.code == c.reason, "\(c.name): \(error)")
        #expect(error.file == c.path)
        #expect(error.tensor == c.tensor, "\(c.name): \(error)")
        if let json = c.json, case .headerNotJSON(let e) = violation { #expect(e.code == json, "\(c.name): \(error)") }
        #expect(error.description.hasPrefix(c.path))
    }

    @Test("each malformed sharded checkpoint is refused with its rule; mismatches list everything at once", arguments: indexCases)
    func index(_ c: MalformedCase) throws {
        let error = #expect(throws: FormatError.self) { try SafetensorsCheckpoint(path: c.path) }
        guard let error, case .index(let violation) = error.reason else {
            Issue.record("\(c.name): expected an index violation, got \(String(describing: error))")
            return
        }
        #expect(violation.code == c.reason, "\(c.name): \(error)")
        if case .mismatch(let m) = violation {
            let pairs = { (key: String) in (c.raw[key]?.array ?? []).map { p in p.array!.map { $0.string! } } }
            #expect(m.missingShards == (c.raw["missingShards"]?.array ?? []).map { $0.string! })
            #expect(m.listedButAbsent.map { [$0.tensor, $0.shard] } == pairs("listedButAbsent"))
            #expect(m.presentButUnlisted.map { [$0.tensor, $0.shard] } == pairs("presentButUnlisted"))
        }
    }

    @Test("an index over 10 MiB is refused before it is parsed")
    func hugeIndex() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("model.safetensors.index.json")
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 10 * 1024 * 1024 + 1)  // sparse: no disk used
        try handle.close()
        #expect(throws: FormatError(.index(.indexTooLarge(size: 10 * 1024 * 1024 + 1, limit: 10 * 1024 * 1024)), file: path)) {
            try SafetensorsCheckpoint(path: path)
        }
    }

    @Test("a header declaring 2^64-1 bytes, or a 1 TB tensor in a tiny file, allocates nothing and is refused")
    func resourceAttacks() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var huge = [UInt8](repeating: 0xFF, count: 8) + Array("{}".utf8)
        FileManager.default.createFile(atPath: dir.file("a"), contents: Data(huge))
        #expect(throws: FormatError(.safetensors(.headerTooLarge(declared: .max, limit: 100_000_000)), file: dir.file("a"))) {
            try SafetensorsFile(path: dir.file("a"))
        }
        let header = Array(#"{"w":{"dtype":"F32","shape":[262144,1048576],"data_offsets":[0,1099511627776]}}"#.utf8)
        huge = withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header
        FileManager.default.createFile(atPath: dir.file("b"), contents: Data(huge))
        #expect(throws: FormatError(.safetensors(.dataTruncated(dataEnd: 1 << 40, available: 0)), file: dir.file("b"))) {
            try SafetensorsFile(path: dir.file("b"))
        }
    }
}

/// Resource attacks that are valid files: they must open without reading or allocating their size.
@Suite struct ResourceAttackTests {
    /// This process's peak resident set, in bytes.
    static func peakRSS() -> Int {
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024  // KiB on Linux
        #else
        getrusage(RUSAGE_SELF, &usage)
        return usage.ru_maxrss  // bytes on Darwin
        #endif
    }

    static func write(_ header: [String: Any], to path: String, dataBytes: Int) throws {
        let json = try JSONSerialization.data(withJSONObject: header)
        var bytes = withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init) + Array(json)
        if dataBytes <= 1 << 20 { bytes += [UInt8](repeating: 0, count: dataBytes) }
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        if dataBytes > 1 << 20 {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.truncate(atOffset: UInt64(bytes.count + dataBytes))  // sparse: no disk used
            try handle.close()
        }
    }

    @Test("a sparse 100 GB safetensors file opens and lists without reading its data (resident memory grows < 64 MiB)")
    func sparse100GB() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let size = 100 << 30
        try Self.write(["big": ["dtype": "U8", "shape": [size], "data_offsets": [0, size]]], to: dir.file("sparse.safetensors"), dataBytes: size)
        let before = Self.peakRSS()
        let file = try SafetensorsFile(path: dir.file("sparse.safetensors"))
        let view = try file.view(named: "big")
        #expect(view.bytes.count == size && file.tensors.count == 1)
        #expect(Self.peakRSS() - before < 64 << 20)
    }

    @Test("a tensor name of 1 MiB is read (the format sets no limit) without a copy per use; GGUF's 64-byte limit refuses such names")
    func megabyteName() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let name = String(repeating: "n", count: 1 << 20)
        try Self.write([name: ["dtype": "F32", "shape": [1], "data_offsets": [0, 4]]], to: dir.file("name.safetensors"), dataBytes: 4)
        let before = Self.peakRSS()
        let file = try SafetensorsFile(path: dir.file("name.safetensors"))
        #expect(file.tensors.map(\.name.utf8.count) == [1 << 20])
        #expect(try file.view(named: name).floats() == [0])
        #expect(Self.peakRSS() - before < 64 << 20)
        #expect(throws: FormatError.self) { try GGUFFile(path: Fixtures.path("malformed/gguf/tensor-name-65-bytes.gguf")) }
    }
}

@Suite struct AcceptedOddFilesTests {
    static let cases: [String] = {
        guard let file = try? MappedFile(path: Fixtures.path("malformed/safetensors-accept/expected.json")),
              case .object(let top)? = withExtendedLifetime(file, { try? StrictJSONParser().parse(file.bytes) }) else { return [] }
        return top.keys
    }()

    @Test("valid but unusual files are read: whitespace, zero-size, scalars, order, extra fields, unaligned data", arguments: cases)
    func accepted(_ name: String) throws {
        let file = try SafetensorsFile(path: Fixtures.path("malformed/safetensors-accept/\(name)"))
        let expectedFile = try MappedFile(path: Fixtures.path("malformed/safetensors-accept/expected.json"))
        let expected = try withExtendedLifetime(expectedFile) { try StrictJSONParser().parse(expectedFile.bytes) }
        let rows = expected.object![name]!.object!["tensors"]!.array!.map { $0.array! }
        #expect(file.tensors.map(\.name) == rows.map { $0[0].string! })
        #expect(file.tensors.map(\.dtype.rawValue) == rows.map { $0[1].string! })
        #expect(file.tensors.map(\.shape.dimensions) == rows.map { $0[2].array!.map { $0.int! } })
        if name == "mlx_unaligned.safetensors" {
            #expect(try file.view(named: "f").floats() == [1.5])
            #expect(Array(try file.view(named: "u").bytes) == [1, 2, 3])
        }
        if name == "unknown_field.safetensors" { #expect(file.header.warnings.count == 1) }
    }

    @Test("the accept corpus is there")
    func present() { #expect(Self.cases.count == 7) }
}
