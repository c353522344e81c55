import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Tensor
import MM1TestSupport
import Testing

/// Imports of the dialect fixtures (Tests/Fixtures/dialects, made from the real transformers, timm
/// and open_clip classes by generate_dialects.py) compared with the canonical tensors that script
/// computed independently.
@Suite struct ImportFixtureTests {
    static func dialect(_ name: String) -> String { Fixtures.path("dialects/\(name)") }

    static func canonical(_ name: String) throws -> SafetensorsFile { try SafetensorsFile(path: dialect("canonical-\(name).safetensors")) }

    static func config(_ name: String) throws -> MM1Config {
        try MM1Config.decode(from: Data(contentsOf: URL(fileURLWithPath: dialect("canonical-\(name).config.json"))))
    }

    /// The f32 bits of every element of `view`.
    static func bits(_ view: TensorView) throws -> [UInt32] { try view.floats().map(\.bitPattern) }

    static func importPackage(_ source: String, config: MM1Config, dtype: OutputDType = .f32, into dir: TemporaryDirectory) throws -> MM1Package {
        var importer = Importer()
        importer.dtype = dtype
        try importer.run(try Checkpoint.open(source), config: config, to: dir.file("out.mm1"))
        return try MM1Package.open(dir.file("out.mm1"))
    }

    static let fullCases: [(String, String)] = [
        ("honeybee", "tiny-dense"), ("honeybee-old-posemb", "tiny-dense"), ("hf-v5-composite", "tiny-dense"),
        ("dtype-bf16", "tiny-dense"), ("dtype-f16", "tiny-dense"), ("llava-mlp", "llava-mlp"),
    ]

    @Test("every dialect of a whole model imports to the canonical tensors, bit for bit", arguments: fullCases)
    func wholeModels(_ source: String, _ canonicalName: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Self.importPackage(Self.dialect(source), config: try Self.config(canonicalName), into: dir)
        let canonical = try Self.canonical(canonicalName)
        #expect(package.storage.map(\.name) == canonical.tensors.map(\.name))
        for info in canonical.tensors {
            let ours = try package.view(named: info.name)
            #expect(ours.shape == info.shape, "\(info.name)")
            #expect(try Self.bits(ours) == Self.bits(try canonical.view(named: info.name)), "\(info.name) differs")
        }
    }

    static let partialCases: [(String, String, Component)] = [
        ("mixtral-legacy", "tiny-moe", .language), ("mixtral-v5-fused", "tiny-moe", .language), ("open-clip-vision", "tiny-dense", .vision),
        ("aim-vision", "aim", .vision),
    ]

    @Test("one-component checkpoints (Mixtral both layouts, open_clip) map that component exactly; the rest is reported missing",
          arguments: partialCases)
    func partialModels(_ source: String, _ canonicalName: String, _ component: Component) throws {
        let checkpoint = try Checkpoint.open(Self.dialect(source))
        let plan = try MappingPlan(tensors: checkpoint.source.tensors, config: try Self.config(canonicalName), dialects: BuiltinDialects.all)
        let canonical = try Self.canonical(canonicalName)
        let expected = canonical.tensors.filter { $0.name.hasPrefix(component.rawValue + ".") }
        let assigned = plan.assignments.filter { $0.spec.component == component }
        #expect(assigned.map(\.spec.name).sorted() == expected.map(\.name))
        #expect(plan.report.missing.allSatisfy { !$0.hasPrefix(component.rawValue + ".") })
        #expect(plan.report.mismatches.isEmpty && plan.report.conflicts.isEmpty)
        for a in assigned {
            var out = [Float](repeating: .nan, count: a.spec.shape.elementCount)
            let views = try a.sources.map { try checkpoint.source.view(named: $0.name) }
            try out.withUnsafeMutableBytes { try Materializer.fill(a, views: views, as: .f32, into: $0) }
            #expect(out.map(\.bitPattern) == (try Self.bits(try canonical.view(named: a.spec.name))), "\(a.spec.name) (\(a.transform))")
        }
        if source == "aim-vision" {
            #expect(plan.report.sources.filter { $0.name.hasPrefix("head.") }.allSatisfy { $0.fate == .ignored })
        }
        if source == "open-clip-vision" {
            #expect(plan.report.sources.first { $0.name == "visual.proj" }?.fate == .ignored)
        }
    }

    @Test("the old position embedding's extra row is dropped and the decision reported")
    func oldPositionEmbedding() throws {
        let checkpoint = try Checkpoint.open(Self.dialect("honeybee-old-posemb"))
        let plan = try MappingPlan(tensors: checkpoint.source.tensors, config: try Self.config("tiny-dense"), dialects: BuiltinDialects.all)
        #expect(plan.report.decisions.contains { $0.hasPrefix("connector.position_embedding: abstractor.pos_emb has one position more") })
    }

    @Test("a tied-embedding config with an output head in the checkpoint stops the import and says why")
    func tiedEmbeddings() throws {
        var config = try Self.config("tiny-dense")
        config.language.tieWordEmbeddings = true
        let checkpoint = try Checkpoint.open(Self.dialect("honeybee"))
        let plan = try MappingPlan(tensors: checkpoint.source.tensors, config: config, dialects: BuiltinDialects.all)
        let head = try #require(plan.report.unmapped.first)
        #expect(plan.report.unmapped.count == 1)
        #expect(head.name == "language_model.lm_head.weight")
        #expect(head.reason?.contains("language.tie_word_embeddings is true") == true)
        #expect(plan.report.decisions.contains { $0.hasPrefix("language.tie_word_embeddings is true") })
    }

    struct Expected: Decodable {
        struct Entry: Decodable {
            let canonical: String
            let source: String?
            let expected: [Int]?
            let found: [Int]?
        }
        let missing: [Entry]?
        let unmapped: [String]?
        let mismatched: [Entry]?
    }

    @Test("broken checkpoints: each problem is in the report, all in one run, and nothing is written",
          arguments: ["missing-tensor", "extra-tensor", "wrong-shape", "config-disagrees"])
    func brokenCases(_ name: String) throws {
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Self.dialect("\(name)/expected.json"))))
        let config = try HFConfig.read(Data(contentsOf: URL(fileURLWithPath: Self.dialect("\(name)/config.json"))), file: "config.json").config
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let error = #expect(throws: ImportError.self) {
            try Importer().run(try Checkpoint.open(Self.dialect(name)), config: config, to: dir.file("out.mm1"))
        }
        let report = try #require(error?.report)
        #expect(report.missing == (expected.missing ?? []).map(\.canonical))
        #expect(report.unmapped.map(\.name) == (expected.unmapped ?? []))
        #expect(report.mismatches.map(\.parameter) == (expected.mismatched ?? []).map(\.canonical))
        for (m, e) in zip(report.mismatches, expected.mismatched ?? []) {
            #expect(m.expected == e.expected && m.found == e.found && m.sources == [e.source!])
            #expect(m.fields.contains("language.kv_heads") || name != "config-disagrees")
        }
        #expect(dir.contents().isEmpty, "a failed import leaves nothing behind")
    }
}
