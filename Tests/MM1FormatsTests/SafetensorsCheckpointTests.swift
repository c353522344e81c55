import Foundation
import MM1Formats
import MM1Tensor
import MM1TestSupport
import Testing

/// Sharded checkpoints whose headers and index are not in name order, with names written with JSON
/// escapes: the reader sorts and compares names as bytes where it can and as strings where it must,
/// and both must agree.
@Suite struct SafetensorsCheckpointTests {
    /// One tensor: its name as the JSON text writes it (escapes allowed), and its bytes (U8, shape [n]).
    typealias Entry = (json: String, bytes: [UInt8])

    /// Writes a safetensors file whose header lists `entries` in the given order, data in that order.
    static func writeShard(_ entries: [Entry], to path: String) throws {
        var offset = 0
        let members = entries.map { e -> String in
            defer { offset += e.bytes.count }
            return "\"\(e.json)\":{\"dtype\":\"U8\",\"shape\":[\(e.bytes.count)],\"data_offsets\":[\(offset),\(offset + e.bytes.count)]}"
        }
        var header = Array("{\(members.joined(separator: ","))}".utf8)
        header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
        var file = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) } + header
        for e in entries { file += e.bytes }
        try Data(file).write(to: URL(fileURLWithPath: path))
    }

    /// Writes an index whose weight_map lists `map` (JSON key text, shard file) in the given order.
    static func writeIndex(_ map: [(json: String, shard: String)], to path: String) throws {
        let members = map.map { "\"\($0.json)\": \"\($0.shard)\"" }.joined(separator: ",\n    ")
        try "{\"metadata\": {}, \"weight_map\": {\n    \(members)\n}}".write(toFile: path, atomically: true, encoding: .utf8)
    }

    static let shardA = "model-00001-of-00002.safetensors", shardB = "model-00002-of-00002.safetensors"
    /// Unsorted; "a\u002ex" is "a.x", "\u00e8" is "è"; "é" is written raw.
    static let entriesA: [Entry] = [("z", [1]), ("a\\u002ex", [2, 2]), ("m", [3, 3, 3]), ("é", [4]), ("Z", [5, 5])]
    static let entriesB: [Entry] = [("c", [6]), ("b.v", [7, 7]), ("\\u00e8", [8, 8, 8])]

    /// The names as strings, in byte order: computed here from the UTF-8 bytes, not by the reader's code.
    static func byteOrder(_ names: [String]) -> [String] {
        names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    static func folder(index: [(json: String, shard: String)]?) throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory()
        try writeShard(entriesA, to: dir.file(shardA))
        try writeShard(entriesB, to: dir.file(shardB))
        if let index { try writeIndex(index, to: dir.file("model.safetensors.index.json")) }
        return dir
    }

    static let fullIndex: [(json: String, shard: String)] = [
        ("m", shardA), ("\\u00e8", shardB), ("a\\u002ex", shardA), ("Z", shardA), ("c", shardB), ("\\u00e9", shardA),
        ("b.v", shardB), ("z", shardA),
    ]

    @Test("unsorted headers and index with escaped names: every tensor once, in byte order, found by name with its bytes", arguments: [true, false])
    func unsortedAndEscaped(withIndex: Bool) throws {
        let dir = try Self.folder(index: withIndex ? Self.fullIndex : nil)
        defer { dir.remove() }
        let checkpoint = try SafetensorsCheckpoint(path: dir.path)
        let expected = Self.byteOrder(["z", "a.x", "m", "é", "Z", "c", "b.v", "è"])
        #expect(checkpoint.tensors.map(\.name) == expected)
        #expect(expected.first == "Z" && expected.last == "é")
        let contents: [String: [UInt8]] = ["z": [1], "a.x": [2, 2], "m": [3, 3, 3], "é": [4], "Z": [5, 5], "c": [6], "b.v": [7, 7], "è": [8, 8, 8]]
        for (name, bytes) in contents {
            let view = try checkpoint.view(named: name)
            #expect(Array(view.bytes) == bytes, "\(name)")
            let shape = try Shape([bytes.count])
            #expect(checkpoint.info(named: name)?.shape == shape)
            let shard = (checkpoint.shard(holding: name)!.path as NSString).lastPathComponent
            #expect(shard == (["c", "b.v", "è"].contains(name) ? Self.shardB : Self.shardA), "\(name)")
        }
        #expect(checkpoint.info(named: "a\\u002ex") == nil)
        #expect(checkpoint.info(named: "y") == nil)
        // Each shard's own list is in the same order.
        let a = try SafetensorsFile(path: dir.file(Self.shardA))
        #expect(a.tensors.map(\.name) == Self.byteOrder(["z", "a.x", "m", "é", "Z"]))
        #expect(try a.view(named: "a.x").bytes.count == 2)
    }

    @Test("every disagreement between an index and shards with escaped names is reported, in one error")
    func mismatchWithEscapes() throws {
        // a.x placed in the wrong shard, m not listed, q listed but nowhere.
        let index: [(json: String, shard: String)] = [
            ("q", Self.shardA), ("\\u00e8", Self.shardB), ("a.x", Self.shardB), ("Z", Self.shardA), ("c", Self.shardB),
            ("\\u00e9", Self.shardA), ("b\\u002ev", Self.shardB), ("z", Self.shardA),
        ]
        let dir = try Self.folder(index: index)
        defer { dir.remove() }
        let error = try #require(throws: FormatError.self) { try SafetensorsCheckpoint(path: dir.path) }
        guard case .index(.mismatch(let m)) = error.reason else { Issue.record("\(error)"); return }
        #expect(m.missingShards.isEmpty)
        #expect(m.listedButAbsent.map { "\($0.tensor) in \($0.shard)" } == ["a.x in \(Self.shardB)", "q in \(Self.shardA)"])
        #expect(m.presentButUnlisted.map { "\($0.tensor) in \($0.shard)" } == ["a.x in \(Self.shardA)", "m in \(Self.shardA)"])
    }

    @Test("the same tensor in two files of a checkpoint without an index names both files, however it is written")
    func tensorInTwoFiles() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.writeShard([("k", [1]), ("a\\u002ex", [1])], to: dir.file("one.safetensors"))
        try Self.writeShard([("a.x", [2]), ("b", [2])], to: dir.file("two.safetensors"))
        let error = try #require(throws: FormatError.self) { try SafetensorsCheckpoint(path: dir.path) }
        #expect(error.reason == .index(.tensorInSeveralFiles(files: ["one.safetensors", "two.safetensors"])))
        #expect(error.tensor == "a.x")
    }

    @Test("a name written twice in one header, once with escapes, or twice in a weight_map, is refused")
    func duplicates() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.writeShard([("b", [1]), ("a.x", [1]), ("c", [1]), ("a\\u002ex", [1])], to: dir.file("dup.safetensors"))
        let error = try #require(throws: FormatError.self) { try SafetensorsFile(path: dir.file("dup.safetensors")) }
        #expect(error.reason == .safetensors(.duplicateTensorName))
        #expect(error.tensor == "a.x")

        // A duplicate is a JSON error where it occurs, as in the reference's parse: it wins over a broken
        // entry before it and a syntax error after it; a syntax error before it wins over it.
        func refusal(_ json: String) throws -> String {
            var header = Array(json.utf8)
            header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
            let path = dir.file("raw.safetensors")
            try Data(withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) } + header + [0, 0]).write(to: URL(fileURLWithPath: path))
            let error = try #require(throws: FormatError.self) { try SafetensorsFile(path: path) }
            guard case .safetensors(let v) = error.reason else { return "\(error)" }
            return "\(v.code) \(error.tensor ?? "-")"
        }
        let ok = #"{"dtype":"U8","shape":[1],"data_offsets":[0,1]}"#, bad = #"{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}"#
        #expect(try refusal(#"{"x":\#(bad),"a":\#(ok),"a":\#(ok),"b":[}"#) == "duplicateTensorName a")
        #expect(try refusal(#"{"x":\#(bad),"a":\#(ok),"b":\#(ok)}"#) == "unknownDType x")
        #expect(try refusal(#"{"a":\#(ok),"b":[,"a":\#(ok)}"#) == "headerNotJSON -")
        #expect(try refusal(#"{"c":\#(ok),"b":\#(ok),"c":\#(ok),"b":\#(ok)}"#) == "duplicateTensorName c")

        let folder = try Self.folder(index: Self.fullIndex + [("\\u007a", Self.shardA)])  // "z" again
        defer { folder.remove() }
        let indexError = try #require(throws: FormatError.self) { try SafetensorsCheckpoint(path: folder.path) }
        #expect(indexError.reason == .index(.invalidIndex("duplicate key \"z\" in weight_map")))
    }

    @Test("files beside the shards that the index does not name are not read into the checkpoint, broken or not")
    func unnamedFilesIgnored() throws {
        let dir = try Self.folder(index: Self.fullIndex)
        defer { dir.remove() }
        // Named like shards (so they are opened while the index is read), but not in the index.
        try Data("not a safetensors file".utf8).write(to: URL(fileURLWithPath: dir.file("model-00003-of-00003.safetensors")))
        try Self.writeShard([("extra", [9])], to: dir.file("model-00004-of-00004.safetensors"))
        let checkpoint = try SafetensorsCheckpoint(path: dir.path)
        #expect(checkpoint.shards.count == 2)
        #expect(checkpoint.tensors.count == 8)
        #expect(checkpoint.info(named: "extra") == nil)
        // A broken shard the index does name is an error about that shard.
        try Data("broken".utf8).write(to: URL(fileURLWithPath: dir.file(Self.shardB)))
        let error = try #require(throws: FormatError.self) { try SafetensorsCheckpoint(path: dir.path) }
        #expect(error.file.hasSuffix(Self.shardB))
    }

    @Test("a FIFO given as a file or named as a shard is refused at once, not waited on")
    func fifo() throws {
        let dir = try Self.folder(index: Self.fullIndex)
        defer { dir.remove() }
        let fifo = dir.file("pipe.safetensors")
        #expect(mkfifo(fifo, 0o600) == 0)
        let error = try #require(throws: FileSystemError.self) { try SafetensorsFile(path: fifo) }
        #expect(error.operation.contains("not a regular file"))
        #expect(throws: FileSystemError.self) { try Hashing.sha256(file: fifo) }  // the provenance hash too
        try FileManager.default.removeItem(atPath: dir.file(Self.shardB))
        #expect(mkfifo(dir.file(Self.shardB), 0o600) == 0)
        #expect(throws: FileSystemError.self) { try SafetensorsCheckpoint(path: dir.path) }
    }
}
