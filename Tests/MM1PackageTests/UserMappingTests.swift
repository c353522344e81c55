import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Tensor
import MM1TestSupport
import Testing

/// A user's mapping file drives the same engine as the built-in dialects.
@Suite struct UserMappingTests {
    @Test("a checkpoint in a made-up naming imports through a --mapping file (fused qkv split, 1-based blocks, transpose)")
    func customNaming() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let canonical = try SafetensorsFile(path: Fixtures.path("dialects/canonical-tiny-dense.safetensors"))

        // Rename the canonical tensors into a private scheme: vision q/k/v fused, connector blocks
        // 1-based, the readout stored transposed, everything else under "net/…".
        var entries: [(SafetensorsLayout.Entry, [UInt8])] = []
        var fused: [Int: [String: [UInt8]]] = [:]
        for info in canonical.tensors {
            let bytes = Array(try canonical.view(named: info.name).bytes)
            let parts = info.name.split(separator: ".").map(String.init)
            if info.name.hasPrefix("vision.layers."), parts[3] == "attention", ["q", "k", "v"].contains(parts[4]), parts[5] == "weight" {
                fused[Int(parts[2])!, default: [:]][parts[4]] = bytes
            } else if info.name.hasPrefix("connector.readout."), parts.last == "weight" {
                let (rows, cols) = (info.shape.dimensions[0], info.shape.dimensions[1])
                var t = [UInt8](repeating: 0, count: bytes.count)
                for r in 0..<rows { for c in 0..<cols { for b in 0..<4 { t[(c * rows + r) * 4 + b] = bytes[(r * cols + c) * 4 + b] } } }
                entries.append((.init(name: "dense_\(parts[2])/kernel", dtype: .f32, shape: [cols, rows]), t))
            } else if info.name.hasPrefix("connector.stages.") {
                let name = "proj.stage\(Int(parts[2])! + 1).b\(Int(parts[4])! + 1)." + parts[5...].joined(separator: ".")
                entries.append((.init(name: name, dtype: info.dtype, shape: info.shape), bytes))
            } else {
                entries.append((.init(name: "net/" + info.name, dtype: info.dtype, shape: info.shape), bytes))
            }
        }
        for (layer, qkv) in fused {
            entries.append((.init(name: "enc.blocks.\(layer).qkv.weight", dtype: .f32, shape: [96, 32]), qkv["q"]! + qkv["k"]! + qkv["v"]!))
        }
        try writeSafetensors(entries, to: dir.file("custom.safetensors"))

        let mapping = """
            {"name": "custom", "rules": [
              {"pattern": "^enc\\\\.blocks\\\\.(\\\\d+)\\\\.qkv\\\\.weight$", "targets": [
                {"name": "vision.layers.$1.attention.q.weight", "transform": {"op": "split", "axis": 0, "parts": 3, "index": 0}},
                {"name": "vision.layers.$1.attention.k.weight", "transform": {"op": "split", "axis": 0, "parts": 3, "index": 1}},
                {"name": "vision.layers.$1.attention.v.weight", "transform": {"op": "split", "axis": 0, "parts": 3, "index": 2}}]},
              {"pattern": "^proj\\\\.stage(\\\\d+)\\\\.b(\\\\d+)\\\\.(.+)$", "targets": [{"name": "connector.stages.${1-1}.blocks.${2-1}.$3", "transform": {"op": "copy"}}]},
              {"pattern": "^dense_(\\\\d+)/kernel$", "targets": [{"name": "connector.readout.$1.weight", "transform": {"op": "transpose"}}]},
              {"pattern": "^net/(.+)$", "targets": [{"name": "$1", "transform": {"op": "copy"}}]}
            ]}
            """
        let dialect = try JSONDecoder().decode(Dialect.self, from: Data(mapping.utf8))
        var importer = Importer()
        importer.dialects = [dialect]
        try importer.run(try Checkpoint.open(dir.file("custom.safetensors")), config: Preset.preset(.tinyDense).config, to: dir.file("p.mm1"))
        let package = try MM1Package.open(dir.file("p.mm1"))
        for info in canonical.tensors {
            #expect(Array(try package.view(named: info.name).bytes) == Array(try canonical.view(named: info.name).bytes), "\(info.name)")
        }
        #expect(package.manifest.provenance.transforms["connector.readout.0.weight"]?.hasPrefix("transpose of dense_0/kernel") == true)
        #expect(package.manifest.provenance.dialects["vision"] == ["custom"])
    }
}
