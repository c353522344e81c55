import Foundation
import MM1Formats
import MM1Tensor
import MM1TestSupport
import Testing

/// Writes files with mm1conv's writer for the Python interop check (Tests/Interop/check_safetensors.py),
/// which reads them with the real `safetensors` and numpy/ml_dtypes. The folder is `MM1_INTEROP_DIR`
/// when set (as `make test` sets it), otherwise a temporary folder; either way the files are read
/// back here too.
@Suite struct InteropOutputTests {
    static var folder: (path: String, temporary: TemporaryDirectory?) {
        if let root = ProcessInfo.processInfo.environment["MM1_INTEROP_DIR"], !root.isEmpty {
            let dir = "\(root)/safetensors"  // its own folder: other suites write beside it concurrently
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            return (dir, nil)
        }
        let t = try! TemporaryDirectory("mm1conv-interop")
        return (t.path, t)
    }

    @Test("writes every dtype, conversions of f32 data, and a sharded set, with a manifest of what was meant")
    func writeInteropFiles() throws {
        let (dir, temporary) = Self.folder
        defer { temporary?.remove() }
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) { try FileManager.default.removeItem(atPath: "\(dir)/\(name)") }

        // 1. Random bytes of every byte-sized dtype, odd shapes, zero-size and scalars.
        let entries = SafetensorsWriterTests.randomEntries(seed: 99, count: 40)
        try SafetensorsWriterTests.write(entries, to: "\(dir)/random.safetensors", metadata: ["format": "pt", "writer": "mm1conv"])

        // 2. f32 values from the torch fixture, converted by mm1conv to every float dtype.
        let source = try SafetensorsFile(path: Fixtures.path("safetensors/all_dtypes.safetensors"))
        let values = try source.view(named: "f32").floats() + (try source.view(named: "vector").floats())
        let targets: [DType] = [.f16, .bf16, .f8E4M3, .f8E5M2, .f64, .f32]
        let layout = try SafetensorsLayout(entries: [.init(name: "source", dtype: .f32, shape: [values.count])]
            + targets.map { .init(name: "as.\($0.rawValue)", dtype: $0, shape: [values.count]) })
        let writer = try SafetensorsWriter(path: "\(dir)/converted.safetensors", layout: layout)
        for info in layout.tensors {
            try writer.write(info.name) { out in
                try values.withUnsafeBufferPointer { try DTypeConversion.fromFloat32($0, to: info.dtype, into: out) }
            }
        }
        try writer.commit()

        // 3. A sharded set with an index.
        let shardEntries = (0..<4).map { SafetensorsLayout.Entry(name: "model.layers.\($0).mlp.down_proj.weight", dtype: .bf16, shape: [16, 8]) }
        let sharded = try SafetensorsCheckpointWriter(folder: dir, entries: shardEntries, maxShardBytes: 600, baseName: "sharded")
        for info in sharded.writeOrder {
            try sharded.write(info.name) { out in for i in 0..<out.count { out[i] = UInt8(truncatingIfNeeded: i &* 31 &+ info.name.count) } }
        }
        try sharded.commit()

        // What each tensor was meant to be, for the Python side: dtype, shape, SHA-256 of its bytes.
        var manifest: [String: [String: Any]] = [:]
        for file in ["random.safetensors", "converted.safetensors"] + sharded.shards.map(\.fileName) {
            let opened = try SafetensorsFile(path: "\(dir)/\(file)")
            for info in opened.tensors {
                manifest["\(file):\(info.name)"] = ["dtype": info.dtype.rawValue, "shape": info.shape.dimensions,
                                                    "sha256": Checkpoint.sha256(of: try opened.view(named: info.name))]
            }
        }
        for (entry, bytes) in entries {
            let view = try SafetensorsFile(path: "\(dir)/random.safetensors").view(named: entry.name)
            #expect(Array(view.bytes) == bytes)
        }
        let json = try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys, .prettyPrinted])
        try json.write(to: URL(fileURLWithPath: "\(dir)/expected.json"))
        #expect(manifest.count == 40 + 7 + 4)
    }
}
