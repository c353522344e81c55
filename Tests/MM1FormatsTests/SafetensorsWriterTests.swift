import Foundation
import MM1Formats
import MM1Tensor
import MM1TestSupport
import Testing

@Suite struct SafetensorsWriterTests {
    /// Deterministic pseudo-random tensors of every convertible and sub-byte-free dtype.
    static func randomEntries(seed: UInt64, count: Int) -> [(SafetensorsLayout.Entry, [UInt8])] {
        var state = seed
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        let dtypes = DType.allCases.filter { $0.byteWidth != nil }
        return (0..<count).map { i in
            let dtype = dtypes[Int(next() % UInt64(dtypes.count))]
            let rank = Int(next() % 4)
            let dims = (0..<rank).map { _ in Int(next() % 5) }
            let shape = try! Shape(dims)
            let bytes = (0..<shape.byteCount(of: dtype)!).map { _ in UInt8(truncatingIfNeeded: next()) }
            return (.init(name: "t\(i).\(dtype.rawValue.lowercased())", dtype: dtype, shape: shape), bytes)
        }
    }

    static func write(_ entries: [(SafetensorsLayout.Entry, [UInt8])], to path: String, metadata: [String: String] = ["format": "pt"]) throws {
        try writeSafetensors(entries, to: path, metadata: metadata)
    }

    @Test("write then read gives back every name, dtype, shape, byte and metadata entry", arguments: [1, 2, 3, 4, 5, 6, 7, 8])
    func roundTrip(seed: UInt64) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let entries = Self.randomEntries(seed: seed, count: 1 + Int(seed) * 3)
        let metadata = ["format": "pt", "note": "seed \(seed) \u{1F600} \"quoted\"\n", "a": ""]
        try Self.write(entries, to: dir.file("a.safetensors"), metadata: metadata)
        let file = try SafetensorsFile(path: dir.file("a.safetensors"))
        #expect(file.metadata == metadata)
        #expect(file.tensors.count == entries.count)
        #expect(file.header.dataOffset % 8 == 0)
        for (entry, bytes) in entries {
            let view = try file.view(named: entry.name)
            #expect(view.dtype == entry.dtype)
            #expect(view.shape == entry.shape)
            #expect(Array(view.bytes) == bytes)
            #expect((file.header.dataOffset + view.info.byteRange.lowerBound) % entry.dtype.byteWidth! == 0, "aligned to its element size")
        }
        // Deterministic: the same tensors in another order give the same bytes.
        try Self.write(entries.reversed(), to: dir.file("b.safetensors"), metadata: metadata)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("a.safetensors"))) == Data(contentsOf: URL(fileURLWithPath: dir.file("b.safetensors"))))
    }

    @Test("misuse is refused: duplicates, wrong order, wrong size, unfinished, existing output")
    func misuse() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = SafetensorsLayout.Entry(name: "a", dtype: .f32, shape: [2])
        let b = SafetensorsLayout.Entry(name: "b", dtype: .f32, shape: [1])
        #expect(throws: OutputError.duplicateTensor("a")) { try SafetensorsLayout(entries: [a, a]) }
        #expect(throws: OutputError.invalidTensorName("__metadata__")) { try SafetensorsLayout(entries: [.init(name: "__metadata__", dtype: .u8, shape: [])]) }
        let layout = try SafetensorsLayout(entries: [a, b])
        do {
            let writer = try SafetensorsWriter(path: dir.file("x.safetensors"), layout: layout)
            #expect(throws: OutputError.outOfOrder(expected: "a", got: "b")) { try writer.write("b", bytes: UnsafeRawBufferPointer(start: nil, count: 0)) }
            #expect(throws: OutputError.byteCountMismatch(tensor: "a", expected: 8, got: 4)) {
                try [Float(1)].withUnsafeBytes { try writer.write("a", bytes: $0) }
            }
            #expect(throws: OutputError.incomplete(missing: ["a", "b"])) { try writer.commit() }
        }
        // The abandoned writer left nothing behind, not even its temporary file.
        #expect(dir.contents().isEmpty)
        FileManager.default.createFile(atPath: dir.file("x.safetensors"), contents: Data([1]))
        #expect(throws: OutputError.exists(path: dir.file("x.safetensors"))) { try SafetensorsWriter(path: dir.file("x.safetensors"), layout: layout) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("x.safetensors"))) == Data([1]))
    }

    @Test("sharded output: greedy shards, HF file names, an index transformers can read, reopened whole")
    func sharded() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let entries = (0..<5).map { i in (SafetensorsLayout.Entry(name: "layer.\(i).weight", dtype: .f32, shape: [10, 10]), [UInt8](repeating: UInt8(i), count: 400)) }
        let writer = try SafetensorsCheckpointWriter(folder: dir.path, entries: entries.map(\.0), maxShardBytes: 900)
        #expect(writer.shards.map(\.fileName) == ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"])
        let byName = Dictionary(uniqueKeysWithValues: entries.map { ($0.0.name, $0.1) })
        for info in writer.writeOrder { try byName[info.name]!.withUnsafeBytes { try writer.write(info.name, bytes: $0) } }
        #expect(dir.contents().allSatisfy { $0.hasPrefix(".") }, "nothing at a final path before commit")
        try writer.commit()
        #expect(dir.contents() == writer.shards.map(\.fileName) + ["model.safetensors.index.json"])
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("model.safetensors.index.json")))) as! [String: Any]
        #expect((index["metadata"] as! [String: Any])["total_size"] as? Int == 2000)
        #expect((index["weight_map"] as! [String: String])["layer.4.weight"] == "model-00003-of-00003.safetensors")
        let reopened = try SafetensorsCheckpoint(path: dir.path)
        #expect(reopened.tensors.map(\.name) == entries.map(\.0.name))
        #expect(reopened.warnings.isEmpty)
        for (entry, bytes) in entries { #expect(Array(try reopened.view(named: entry.name).bytes) == bytes) }
    }
}
