import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Quantization
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

/// `export --format gguf` read back: by mm1conv's own reader and mapping (here) and by gguf-py
/// (Tests/Interop/check_gguf.py, on the files this suite leaves in MM1_INTEROP_DIR).
@Suite struct GGUFExportTests {

    @Test("export then import gives the package's decoder back: exactly for F32/F16, as quantize→dequantize for Q8_0/Q4_0/IQ4_NL",
          arguments: GGUFExport.TensorType.allCases)
    func roundTrip(_ type: GGUFExport.TensorType) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Fixtures.importSample(into: dir)
        let path = dir.file("tiny-\(type.rawValue).gguf")
        _ = try GGUFExport.export(package, type: type, to: path)
        if let interop = ProcessInfo.processInfo.environment["MM1_INTEROP_DIR"], !interop.isEmpty {
            try FileManager.default.createDirectory(atPath: "\(interop)/gguf", withIntermediateDirectories: true)
            try? FileManager.default.removeItem(atPath: "\(interop)/gguf/tiny-\(type.rawValue).gguf")
            try FileManager.default.copyItem(atPath: path, toPath: "\(interop)/gguf/tiny-\(type.rawValue).gguf")
        }
        let gguf = try GGUFFile(path: path)
        let (language, _) = try GGUFConfig.language(from: gguf)
        var want = package.manifest.config.language
        want.imageTokenID = language.imageTokenID
        #expect(language == want)
        let plan = try MappingPlan(tensors: gguf.tensors, config: package.manifest.config, dialects: BuiltinDialects.all)
        let assigned = plan.assignments.filter { $0.spec.component == .language }
        #expect(assigned.count == package.model.specs.filter { $0.component == .language }.count && plan.report.unmapped.isEmpty)
        for a in assigned {
            var got = [Float](repeating: .nan, count: a.spec.shape.elementCount)
            let views = try a.sources.map { try gguf.view(named: $0.name) }
            try got.withUnsafeMutableBytes { try Materializer.fill(a, views: views, as: .f32, into: $0) }
            var want = try package.view(named: a.spec.name).floats()
            let stored = gguf.ggufTensor(named: a.sources[0].name)!.type
            if stored == .q8_0 || stored == .q4_0 {
                var blocks = [UInt8](repeating: 0, count: want.count / 32 * stored.blockBytes)
                want.withUnsafeBufferPointer { x in
                    blocks.withUnsafeMutableBytes { stored == .q8_0 ? GGUFQuantizer.quantizeQ8_0(x, into: $0) : GGUFQuantizer.quantizeQ4_0(x, into: $0) }
                }
                want.withUnsafeMutableBufferPointer { out in blocks.withUnsafeBytes { GGUFDequantizer.dequantize(stored, $0, into: out) } }
            } else if stored == .iq4_nl {
                let cols = a.spec.shape.dimensions.last!
                want = try GroupQuantizer(format: QuantizedFormat(bits: .int4, mode: .nonlinear, groupSize: 32), scaleDType: .f16)
                    .quantize(a.spec.name, want, shape: [want.count / cols, cols]).floats()
            }
            #expect(got.map(\.bitPattern) == want.map(\.bitPattern), "\(a.spec.name) stored as \(stored)")
        }
    }
}
