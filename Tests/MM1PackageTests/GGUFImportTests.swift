import Foundation
import MM1Formats
import MM1Graph
import MM1Package
import MM1Tensor
import MM1TestSupport
import Testing

/// Decoders in llama.cpp's GGUF layout (written by gguf-py from the canonical tiny tensors, q/k row-permuted
/// as convert_hf_to_gguf.py does) map back onto the graph exactly, and their config comes from the metadata.
@Suite struct GGUFImportTests {
    static let cases: [(String, String)] = [("tiny-llama.gguf", "tiny-dense"), ("tiny-llama-f16.gguf", "tiny-dense"), ("tiny-moe.gguf", "tiny-moe")]

    @Test("llama.cpp names, the q/k permutation undone and stacked experts give the canonical decoder bit for bit", arguments: cases)
    func mapsToCanonical(_ file: String, _ canonicalName: String) throws {
        let checkpoint = try Checkpoint.open(Fixtures.path("gguf/\(file)"))
        let config = try MM1Config.decode(from: Data(contentsOf: Fixtures.url("dialects/canonical-\(canonicalName).config.json")))
        let plan = try MappingPlan(tensors: checkpoint.source.tensors, config: config, dialects: BuiltinDialects.all)
        let canonical = try SafetensorsFile(path: Fixtures.path("dialects/canonical-\(canonicalName).safetensors"))
        let expected = canonical.tensors.filter { $0.name.hasPrefix("language.") }.map(\.name).sorted()
        let assigned = plan.assignments.filter { $0.spec.component == .language }
        #expect(assigned.map(\.spec.name).sorted() == expected)
        #expect(plan.report.unmapped.isEmpty && plan.report.mismatches.isEmpty && plan.report.conflicts.isEmpty)
        #expect(plan.report.missing.allSatisfy { !$0.hasPrefix("language.") })
        #expect(assigned.filter { $0.transform == .unpermuteRotary(headDim: 16) }.count == 8)  // q and k of 4 layers
        for a in assigned {
            var out = [Float](repeating: .nan, count: a.spec.shape.elementCount)
            let views = try a.sources.map { try checkpoint.source.view(named: $0.name) }
            try out.withUnsafeMutableBytes { try Materializer.fill(a, views: views, as: .f32, into: $0) }
            #expect(out.map(\.bitPattern) == (try canonical.view(named: a.spec.name).floats().map(\.bitPattern)), "\(a.spec.name) (\(a.transform))")
        }
    }

    @Test("the decoder config comes from llama.* metadata and the tensors (MoE layers from where ffn_gate_inp is)", arguments: cases)
    func configFromMetadata(_ file: String, _ canonicalName: String) throws {
        let gguf = try GGUFFile(path: Fixtures.path("gguf/\(file)"))
        let (language, notes) = try GGUFConfig.language(from: gguf)
        var want = try MM1Config.decode(from: Data(contentsOf: Fixtures.url("dialects/canonical-\(canonicalName).config.json"))).language
        want.imageTokenID = language.vocabSize - 1  // GGUF has none: the last id, as the note says
        #expect(language == want)
        #expect(notes.contains { $0.hasPrefix("GGUF has no image-token id") })
        if canonicalName == "tiny-moe" { #expect(notes.contains { $0.hasPrefix("MoE layers [1, 3]") }) }
    }

    @Test("a GGUF that is not a llama decoder is a config error naming the key")
    func wrongArchitecture() throws {
        let gguf = try GGUFFile(path: Fixtures.path("gguf/metadata.gguf"))
        #expect(throws: ConfigError.self) { try GGUFConfig.language(from: gguf) }
    }
}
