import Foundation
import MM1Formats
import MM1Tensor
import MM1TestSupport
import Testing

/// Files written by the real Python `safetensors` (and huggingface_hub), read by mm1conv.
@Suite struct SafetensorsFixtureTests {
    static let allDTypes = ["bf16", "bool", "empty.both", "empty.rows", "f16", "f32", "f64", "f8_e4m3", "f8_e5m2", "i16",
                            "i32", "i64", "i8", "model.layers.0.self_attn.q_proj.weight", "scalar", "u16", "u32", "u64", "u8", "vector"]

    @Test("every dtype, zero-size and scalar tensors and metadata are read as written")
    func readsEveryDType() throws {
        let file = try SafetensorsFile(path: Fixtures.path("safetensors/all_dtypes.safetensors"))
        #expect(file.tensors.map(\.name) == Self.allDTypes)
        #expect(file.metadata == ["generator": "generate_fixtures.py seed=20261129"])
        #expect(file.info(named: "bf16")?.dtype == .bf16)
        #expect(file.info(named: "f8_e4m3")?.dtype == .f8E4M3)
        #expect(file.info(named: "u16")?.dtype == .u16)
        #expect(file.info(named: "bool")?.shape == [3, 5])
        #expect(file.info(named: "empty.rows")?.shape == [2, 0])
        #expect(file.info(named: "empty.rows")?.byteCount == 0)
        #expect(file.info(named: "scalar")?.shape == [])
        #expect(file.info(named: "scalar")?.shape.elementCount == 1)
        #expect(file.header.warnings.isEmpty)
    }

    @Test("values of every dtype convert to the f32 values torch computes", arguments: allDTypes)
    func valuesMatchTorch(_ name: String) throws {
        let file = try SafetensorsFile(path: Fixtures.path("safetensors/all_dtypes.safetensors"))
        let expected = try SafetensorsFile(path: Fixtures.path("safetensors/all_dtypes.expected_f32.safetensors"))
        let got = try file.view(named: name).floats()
        let want = try expected.view(named: name).floats()
        #expect(firstDifferences(got.map(\.bitPattern), want.map(\.bitPattern)) == nil)
    }

    @Test("the writer reproduces the Python safetensors file byte for byte")
    func writerMatchesReference() throws {
        let reference = try SafetensorsFile(path: Fixtures.path("safetensors/all_dtypes_pt.safetensors"))
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let layout = try SafetensorsLayout(entries: reference.tensors.map { .init(name: $0.name, dtype: $0.dtype, shape: $0.shape) })
        let writer = try SafetensorsWriter(path: dir.file("out.safetensors"), layout: layout)
        for info in layout.tensors { try writer.write(info.name, bytes: try reference.view(named: info.name).bytes) }
        try writer.commit()
        let ours = try Data(contentsOf: URL(fileURLWithPath: dir.file("out.safetensors")))
        let theirs = try Data(contentsOf: Fixtures.url("safetensors/all_dtypes_pt.safetensors"))
        #expect(ours == theirs)
        #expect(dir.contents() == ["out.safetensors"])
    }

    @Test("a checkpoint sharded by huggingface_hub opens from its folder and from its index")
    func shardedFromFolderAndIndex() throws {
        let folder = try SafetensorsCheckpoint(path: Fixtures.path("safetensors/sharded"))
        let index = try SafetensorsCheckpoint(path: Fixtures.path("safetensors/sharded/model.safetensors.index.json"))
        #expect(folder.shards.count == 3)
        #expect(folder.tensors.map(\.name) == index.tensors.map(\.name))
        #expect(folder.tensors.count == 6)
        #expect(folder.warnings.isEmpty)
        #expect(folder.metadata["total_size"] == String(folder.totalByteCount))
        let norm = try folder.view(named: "model.norm.weight").floats()
        #expect(norm == [Float](repeating: 1, count: 32))
        #expect(folder.shard(holding: "model.embed_tokens.weight") != nil)
    }

    @Test("an empty file written by safetensors has no tensors")
    func emptyFile() throws {
        let file = try SafetensorsFile(path: Fixtures.path("safetensors/empty.safetensors"))
        #expect(file.tensors.isEmpty)
    }

    @Test("every generated fixture matches the hash in MANIFEST.json (rerun generate_fixtures.py if not)")
    func manifestHashes() throws {
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("MANIFEST.json"))) as! [String: Any]
        let files = manifest["files"] as! [String: String]
        #expect(files.count >= 20)
        for (relative, hash) in files {
            let file = try MappedFile(path: Fixtures.path(relative))
            let view = TensorView(info: TensorInfo(name: relative, dtype: .u8, shape: [file.size], byteRange: 0..<file.size), bytes: file.bytes, owner: file)
            #expect(Checkpoint.sha256(of: view) == hash, "\(relative) changed: rerun Tests/Fixtures/generate_fixtures.py")
        }
    }
}
