import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Tensor
import MM1TestSupport
import Testing

@Suite struct PackageTests {
    static func files(_ folder: String) throws -> [String: Data] {
        var result: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            result[name] = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(name)"))
        }
        return result
    }

    @Test("two imports of the same input are byte-identical; shards are split by size; the manifest lists every hash")
    func deterministic() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = try HFConfig.read(Data(contentsOf: Fixtures.url("dialects/honeybee/config.json")), file: "config.json").config
        var importer = Importer()
        importer.maxShardBytes = 200_000
        for out in ["a.mm1", "b.mm1"] {
            try importer.run(try Checkpoint.open(Fixtures.path("dialects/honeybee")), config: config, to: dir.file(out))
        }
        let a = try Self.files(dir.file("a.mm1")), b = try Self.files(dir.file("b.mm1"))
        #expect(a == b)
        #expect(a.keys.filter { $0.hasSuffix(".safetensors") }.count >= 2)
        let package = try MM1Package.open(dir.file("a.mm1"))
        #expect(package.manifest.tensors.count == 138)
        #expect(package.manifest.provenance.sources.map(\.name) == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"])
        for (name, entry) in package.manifest.tensors {
            #expect(Checkpoint.sha256(of: try package.view(named: name)) == entry.sha256)
        }
        for (name, shard) in package.manifest.shards {
            #expect(try Hashing.sha256(file: dir.file("a.mm1/\(name)")).digest == shard.sha256)
        }
        // Typed, zero-copy access through the model tree.
        let q = package.model.language.layers[3].attention.q.weight
        #expect(q.shape == [64, 64])
        #expect(q.name == "language.layers.3.attention.q.weight")
        guard case .cAbstractor(let c) = package.model.connector else { Issue.record("not a C-Abstractor"); return }
        #expect(c.stage1[0].downsample?.conv.shape == [48, 32, 1, 1])
        #expect(c.stage2[1].downsample == nil)
    }

    @Test("an existing package is not replaced without overwrite; with it, it is")
    func overwrite() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = Preset.preset(.tinyDense).config
        let source = Fixtures.path("dialects/hf-v5-composite")
        var importer = Importer()
        try importer.run(try Checkpoint.open(source), config: config, to: dir.file("p.mm1"))
        #expect(throws: OutputError.exists(path: dir.file("p.mm1"))) {
            try importer.run(try Checkpoint.open(source), config: config, to: dir.file("p.mm1"))
        }
        importer.overwrite = true
        importer.dtype = .bf16
        try importer.run(try Checkpoint.open(source), config: config, to: dir.file("p.mm1"))
        #expect(try MM1Package.open(dir.file("p.mm1")).view(named: "language.norm.weight").dtype == .bf16)
        #expect(dir.contents() == ["p.mm1"], "no staging or old folders left")
    }

    @Test("a package whose manifest is missing or disagrees with its shards is refused with the reason")
    func refusesDamagedPackages() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Importer().run(try Checkpoint.open(Fixtures.path("dialects/hf-v5-composite")), config: Preset.preset(.tinyDense).config, to: dir.file("p.mm1"))
        let manifestPath = dir.file("p.mm1/mm1.json")
        let original = try String(contentsOfFile: manifestPath, encoding: .utf8)

        try original.replacingOccurrences(of: "\"language.norm.weight\" : {\n      \"bytes\" : 256", with: "\"language.norm.weight\" : {\n      \"bytes\" : 255")
            .write(toFile: manifestPath, atomically: true, encoding: .utf8)
        let mismatch = #expect(throws: PackageError.self) { try MM1Package.open(dir.file("p.mm1")) }
        #expect(mismatch?.reason == .tensorMismatch(tensor: "language.norm.weight", detail: mismatch.map { if case .tensorMismatch(_, let d) = $0.reason { d } else { "" } } ?? ""))

        try original.replacingOccurrences(of: "\"format_version\" : 1", with: "\"format_version\" : 1, \"format_version\" : 1")
            .write(toFile: manifestPath, atomically: true, encoding: .utf8)
        let duplicate = #expect(throws: PackageError.self) { try MM1Package.open(dir.file("p.mm1")) }
        #expect(duplicate?.description.contains("duplicate key \"format_version\"") == true)

        try FileManager.default.removeItem(atPath: manifestPath)
        #expect(throws: PackageError(path: dir.file("p.mm1"), reason: .noManifest)) { try MM1Package.open(dir.file("p.mm1")) }
    }
}
