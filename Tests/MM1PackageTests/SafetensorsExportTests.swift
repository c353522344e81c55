import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Quantization
import MM1TestSupport
import Testing

/// `export --format safetensors`, the inverse of import: the canonical fixtures (CLIP encoder;
/// C-Abstractor, MLP connectors; dense and MoE decoders) written in framework names and imported back.
@Suite struct SafetensorsExportTests {
    /// Imports `Tests/Fixtures/dialects/canonical-NAME` into `dir`.
    static func canonical(_ name: String, _ dir: TemporaryDirectory) throws -> MM1Package {
        let config = try MM1Config.decode(from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("dialects/canonical-\(name).config.json"))), file: nil)
        try Importer().run(try Checkpoint.open(Fixtures.path("dialects/canonical-\(name).safetensors")), config: config, to: dir.file("\(name).mm1"))
        return try MM1Package.open(dir.file("\(name).mm1"))
    }

    @Test("package → framework names → import gives every parameter back bit for bit", arguments: ["tiny-dense", "tiny-moe", "llava-mlp"])
    func roundTrip(_ name: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Self.canonical(name, dir)
        let counts = try SafetensorsExport.export(package, to: dir.file("out"))
        #expect(counts["mm1"] == nil && counts["llama-cpp"] == nil, "\(counts)")
        let exported = try Checkpoint.open(dir.file("out"))
        #expect(!exported.source.tensors.contains { $0.name.hasPrefix("vision.") || $0.name.hasPrefix("language.") }, "canonical names left")
        // Imported with every dialect but mm1conv's own, so the names must be the frameworks'.
        var importer = Importer()
        importer.dialects = SafetensorsExport.defaultDialects
        try importer.run(exported, config: package.manifest.config, to: dir.file("back.mm1"))
        let back = try MM1Package.open(dir.file("back.mm1"))
        for spec in package.model.specs {
            let a = try package.parameter(named: spec.name).view!, b = try back.parameter(named: spec.name).view!
            #expect(a.dtype == b.dtype && a.withUnsafeBytes { Array($0) } == b.withUnsafeBytes { Array($0) }, "\(name): \(spec.name)")
        }
    }

    @Test("a quantized package exports its dequantized weights (F32), which import back exactly")
    func quantized() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Self.canonical("tiny-dense", dir)
        var importer = Importer()
        importer.quantization = QuantizationPolicy(bits: .int4, groupSize: 32)
        try importer.run(try Checkpoint.open(package.path), config: package.manifest.config, to: dir.file("q.mm1"))
        let q = try MM1Package.open(dir.file("q.mm1"))
        try SafetensorsExport.export(q, to: dir.file("out"))
        try Importer().run(try Checkpoint.open(dir.file("out")), config: q.manifest.config, to: dir.file("back.mm1"))
        let back = try MM1Package.open(dir.file("back.mm1"))
        var quantized = 0
        for spec in q.model.specs {
            let stored = try q.parameter(named: spec.name)
            if stored.quantized != nil { quantized += 1; #expect(try back.parameter(named: spec.name).view?.dtype == .f32) }
            #expect(try stored.floats() == back.parameter(named: spec.name).floats(), "\(spec.name)")
        }
        #expect(quantized > 0)
    }

    @Test("dialects that cannot name every parameter: a typed error counting them, nothing written")
    func unnamed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Self.canonical("tiny-dense", dir)
        #expect(throws: GGUFExport.ExportError.self) { try SafetensorsExport.export(package, dialects: [BuiltinDialects.hfLlama], to: dir.file("out")) }
        #expect(!FileManager.default.fileExists(atPath: dir.file("out")))
    }
}
