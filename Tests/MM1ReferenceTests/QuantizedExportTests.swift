import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Quantization
import MM1Reference
import MM1Tensor
import MM1TestSupport
import Testing

/// Quantized packages exported for the runtimes: GGUF blocks carried over and read back exactly,
/// MLX parts that dequantize to the package's values; with MM1_INTEROP_DIR set, the files and our
/// reference logits for Tests/Interop/check_runtimes.py (llama.cpp through llama-cpp-python, mlx, mlx-lm).
@Suite(.serialized) struct QuantizedExportTests {
    /// The sample quantized by the library, as `mm1conv quantize` does.
    static func quantized(_ source: MM1Package, _ dir: TemporaryDirectory, _ name: String, _ policy: QuantizationPolicy) throws -> MM1Package {
        var importer = Importer()
        importer.quantization = policy
        try importer.run(try Checkpoint.open(source.path), config: source.manifest.config, to: dir.file(name))
        return try MM1Package.open(dir.file(name))
    }

    static let policies: [(String, QuantizationPolicy)] = {
        var affine = QuantizationPolicy(bits: .int4, mode: .affine, groupSize: 64)
        affine.optimizeScales = true
        return [("int8", QuantizationPolicy(bits: .int8, groupSize: 32)), ("int4", QuantizationPolicy(bits: .int4, groupSize: 32)),
                ("int4-nonlinear", QuantizationPolicy(bits: .int4, mode: .nonlinear, groupSize: 32)), ("int4-affine", affine)]
    }()

    @Test("GGUF of int8/int4/nonlinear int4 packages: g32 matrices carried as Q8_0/Q4_0/IQ4_NL blocks; read back, the package's dequantized weights exactly; quantized again, the same codes and scales (blocks carried, not requantized)")
    func ggufRoundTrip() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let source = try Fixtures.importSample(into: dir)
        for (name, policy) in Self.policies.prefix(3) {
            let package = try Self.quantized(source, dir, "\(name).mm1", policy)
            let type = GGUFExport.defaultType(for: package)
            #expect(type == ["int8": .q8_0, "int4": .q4_0, "int4-nonlinear": .iq4_nl][name])
            try FileManager.default.createDirectory(atPath: dir.file("\(name)-gguf"), withIntermediateDirectories: false)
            let notes = try GGUFExport.export(package, type: type, to: dir.file("\(name)-gguf/lm.gguf"))
            try GGUFExport.exportVision(package, type: type, to: dir.file("\(name)-gguf/vision.gguf"))
            #expect(notes.contains { $0.contains("28 quantized matrices carried over as \(type.rawValue.uppercased()) blocks without requantizing") }, "\(notes)")
            #expect(!notes.contains { $0.hasPrefix("requantized") }, "\(notes)")
            try Importer().run(try Checkpoint.open(dir.file("\(name)-gguf")), config: package.manifest.config, to: dir.file("\(name)-back.mm1"))
            let back = try MM1Package.open(dir.file("\(name)-back.mm1"))
            for spec in package.model.specs {
                let want = try package.parameter(named: spec.name).floats(), got = try back.parameter(named: spec.name).floats()
                #expect(want.map(\.bitPattern) == got.map(\.bitPattern), "\(name): \(spec.name)")
            }
            // Quantizing the GGUF files again with the same policy takes their blocks as they are: the same package bytes.
            var importer = Importer()
            importer.quantization = policy
            try importer.run(try Checkpoint.open(dir.file("\(name)-gguf")), config: package.manifest.config, to: dir.file("\(name)-again.mm1"))
            let again = try MM1Package.open(dir.file("\(name)-again.mm1"))
            var carried = 0
            for spec in package.model.specs {
                guard let q = try package.parameter(named: spec.name).quantized, q.format.groupSize == 32 else { continue }
                let r = try #require(try again.parameter(named: spec.name).quantized, "\(spec.name)")
                #expect(r.codes.withUnsafeBytes { Array($0) } == q.codes.withUnsafeBytes { Array($0) }, "\(name): \(spec.name) codes")
                #expect(r.scales.withUnsafeBytes { Array($0) } == q.scales.withUnsafeBytes { Array($0) }, "\(name): \(spec.name) scales")
                carried += 1
            }
            #expect(carried >= 40 && again.manifest.provenance.decisions.contains("\(carried) parameters carried over from their GGUF Q8_0/Q4_0/IQ4_NL blocks without requantizing"),
                    "\(carried): \(again.manifest.provenance.decisions)")
        }
    }

    @Test("MLX export: config.json's quantization block, and every quantized weight's MLX parts dequantize (affine) to exactly the package's values")
    func mlx() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let source = try Fixtures.importSample(into: dir)
        for (name, policy) in Self.policies {
            let package = try Self.quantized(source, dir, "\(name).mm1", policy)
            let out = dir.file("\(name)-mlx")
            let notes = try MLXExport.export(package, to: out)
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/config.json"))) as! [String: Any]
            let q = config["quantization"] as! [String: Any]
            #expect(q["bits"] as? Int == policy.bits.bits && q["group_size"] as? Int == policy.groupSize && q["mode"] as? String == "affine")
            #expect(config["model_type"] as? String == "llama")
            if policy.mode == .nonlinear {
                // MLX has no nonlinear levels: requantized (affine, same groups), as the notes say; the runtimes
                // check loads it and prints its drift.
                #expect(notes.filter { $0.contains("MLX has no nonlinear levels") }.count >= 40, "\(notes)")
                try Self.interop(name: name, package: package, mlx: out)
                continue
            }
            var checked = 0
            for file in ["model.safetensors", "mm1-vision.safetensors"] {
                let st = try SafetensorsFile(path: "\(out)/\(file)")
                for spec in package.model.specs {
                    guard let stored = try package.parameter(named: spec.name).quantized else { continue }
                    let mlxName = spec.component == .language ? MLXExportNames.name(spec.name) : spec.name
                    let base = String(mlxName.dropLast(".weight".count))
                    guard let codes = st.info(named: base + ".weight"), codes.dtype == .u32 else { continue }
                    let scales = try st.view(named: base + ".scales"), biases = try st.view(named: base + ".biases")
                    let group = spec.shape.dimensions.last! / scales.shape.dimensions.last!
                    let format = QuantizedFormat(bits: stored.format.bits, mode: .affine, groupSize: group)
                    let t = try QuantizedTensor(name: spec.name, format: format, shape: spec.shape.dimensions,
                                                codes: TensorView(copying: try st.view(named: base + ".weight").withUnsafeBytes { Array($0) }, name: spec.name, dtype: .u8,
                                                                  shape: try Shape(format.layout(of: spec.shape.dimensions).codes)),
                                                scales: scales, biases: biases)
                    // Equal as numbers (MLX's s·n + b gives +0 where s·(n − 8) gives −0 for a negative scale).
                    let ours = stored.floats(), theirs = t.floats()
                    let first = zip(ours, theirs).enumerated().first { $0.element.0 != $0.element.1 }
                    #expect(first == nil, "\(name): \(spec.name): element \(first?.offset ?? -1): package \(first?.element.0 ?? 0), MLX parts \(first?.element.1 ?? 0)")
                    checked += 1
                }
            }
            #expect(checked >= 40, "\(name): \(checked) quantized weights checked; notes \(notes)")
            try Self.interop(name: name, package: package, mlx: out)
        }
        // The unquantized sample as F32 GGUF, for llama.cpp's logits at full precision.
        if let root = Self.interopRoot {
            _ = try GGUFExport.export(source, type: .f32, to: "\(root)/f32.gguf", overwrite: true)
            try Self.writeLogits(source, name: "f32")
        }
    }

    @Test("an all-MoE decoder: GGUF in llama.cpp's expert-stacked layout (Q4_0 experts carried) and MLX's mixtral layout; with MM1_INTEROP_DIR, files and logits for the runtimes")
    func moe() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // The tiny MoE preset with every decoder layer sparse (llama.cpp's and mlx-lm's layouts need that).
        var config = Preset.preset(.tinyMoE).config
        config.language.moe?.sparseLayers = Array(0..<config.language.layers)
        config.language.intermediateSize = config.language.moe!.expertIntermediateSize
        try Self.synthesize(config, seed: 7, to: dir.file("moe.safetensors"))
        try Importer().run(try Checkpoint.open(dir.file("moe.safetensors")), config: config, to: dir.file("moe.mm1"))
        let package = try MM1Package.open(dir.file("moe.mm1"))
        let quantized = try Self.quantized(package, dir, "moe-int4.mm1", QuantizationPolicy(bits: .int4, groupSize: 32))
        let notes = try GGUFExport.export(quantized, type: .q4_0, to: dir.file("moe-q4_0.gguf"))
        #expect(!notes.contains { $0.contains("interleave") }, "\(notes)")
        let gguf = try GGUFFile(path: dir.file("moe-q4_0.gguf"))
        let experts = gguf.ggufTensors.filter { $0.name.hasSuffix("_exps.weight") }
        #expect(experts.count == 3 * config.language.layers && experts.allSatisfy { $0.type.id == GGMLType.q4_0.id && $0.shape.first == 4 })
        _ = try MLXExport.export(quantized, to: dir.file("moe-mlx"))
        let mlxConfig = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("moe-mlx/config.json")))) as! [String: Any]
        #expect(mlxConfig["model_type"] as? String == "mixtral" && mlxConfig["num_local_experts"] as? Int == 4)
        let names = try SafetensorsFile(path: dir.file("moe-mlx/model.safetensors")).tensors.map(\.name)
        #expect(names.contains("model.layers.0.block_sparse_moe.switch_mlp.gate_proj.weight") && names.contains("model.layers.0.block_sparse_moe.gate.weight"))
        if let root = Self.interopRoot {
            _ = try GGUFExport.export(package, type: .f32, to: "\(root)/moe-f32.gguf", overwrite: true)
            try Self.writeLogits(package, name: "moe-f32")
            try? FileManager.default.removeItem(atPath: "\(root)/moe-int4-mlx")
            try FileManager.default.copyItem(atPath: dir.file("moe-mlx"), toPath: "\(root)/moe-int4-mlx")
            try FileManager.default.copyItem(atPath: dir.file("moe-q4_0.gguf"), toPath: "\(root)/moe-int4.gguf.tmp")
            try? FileManager.default.removeItem(atPath: "\(root)/moe-int4.gguf")
            try FileManager.default.moveItem(atPath: "\(root)/moe-int4.gguf.tmp", toPath: "\(root)/moe-int4.gguf")
            try Self.writeLogits(quantized, name: "moe-int4")
        }
    }

    @Test("the source's byte-level BPE tokenizer is carried into the package (hashed) and written to the GGUF as llama.cpp reads it")
    func tokenizer() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Self.tokenizerPackage(dir, fixture: "tokenizer", files: ["tokenizer.json", "tokenizer_config.json"], seed: 11)
        #expect(Set(package.manifest.files?.keys.map { $0 } ?? []) == ["tokenizer/tokenizer.json", "tokenizer/tokenizer_config.json"])
        #expect(try PackageIntegrity.check(package.path).intact)
        // A tokenizer file cut short (or gone) is refused when the package is opened, naming the file and both sizes.
        let copy = dir.file("cut.mm1")
        try FileManager.default.copyItem(atPath: package.path, toPath: copy)
        let cut = "\(copy)/tokenizer/tokenizer_config.json"
        let size = try #require(try FileManager.default.attributesOfItem(atPath: cut)[.size] as? Int)
        try FileHandle(forWritingAtPath: cut).map { try $0.truncate(atOffset: 1); try $0.close() }
        let error = #expect(throws: PackageError.self) { try MM1Package.open(copy) }
        #expect(error?.reason == .fileSizeMismatch(file: "tokenizer/tokenizer_config.json", expected: size, actual: 1))
        try FileManager.default.removeItem(atPath: cut)
        #expect((#expect(throws: PackageError.self) { try MM1Package.open(copy) })?.reason
                == .fileSizeMismatch(file: "tokenizer/tokenizer_config.json", expected: size, actual: nil))
        let notes = try GGUFExport.export(package, type: .f32, to: dir.file("tok.gguf"))
        #expect(notes.contains("tokenizer: byte-level BPE from tokenizer/tokenizer.json, 320 tokens and 62 merges, 1 unused ids padded to the model's 321"), "\(notes)")
        let gguf = try GGUFFile(path: dir.file("tok.gguf"))
        #expect(gguf.value("tokenizer.ggml.model")?.string == "gpt2")
        guard case .array(_, let tokens)? = gguf.value("tokenizer.ggml.tokens"), case .array(_, let merges)? = gguf.value("tokenizer.ggml.merges") else {
            Issue.record("no tokens or merges")
            return
        }
        #expect(tokens.count == 321 && merges.count == 62 && tokens[0].string == "<s>" && tokens[320].string == "[PAD320]")
        #expect(gguf.value("tokenizer.ggml.bos_token_id")?.integer == 0 && gguf.value("tokenizer.ggml.eos_token_id")?.integer == 1)
        // The other exports put the tokenizer files beside their weights.
        _ = try MLXExport.export(package, to: dir.file("tok-mlx"))
        try SafetensorsExport.export(package, to: dir.file("tok-st"))
        for folder in ["tok-mlx", "tok-st"] {
            #expect(FileManager.default.contentsEqual(atPath: dir.file("\(folder)/tokenizer.json"), andPath: Fixtures.path("tokenizer/tokenizer.json")), "\(folder)")
        }
        // A byte flipped in the carried tokenizer is caught by --integrity.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: "\(package.path)/tokenizer/tokenizer.json"))
        if let root = Self.interopRoot {
            try Self.keepManifest(package, as: "tokenizer")
            _ = try GGUFExport.export(package, type: .f32, to: "\(root)/tok-f32.gguf", overwrite: true)
            let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("tokenizer/expected.json"))) as! [String: [Int]]
            try Self.writeLogits(package, name: "tok-f32", ids: expected["MM1 converts vision and language weights"]!)
        }
        bytes[100] ^= 1
        try bytes.write(to: URL(fileURLWithPath: "\(package.path)/tokenizer/tokenizer.json"))
        #expect(try PackageIntegrity.check(package.path).corruptedShards == ["tokenizer/tokenizer.json"])
    }

    @Test("a SentencePiece BPE tokenizer.model (LLaMA's kind) is carried and written as llama.cpp's SentencePiece vocabulary: pieces, scores and types as sentencepiece reads them")
    func sentencePieceTokenizer() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Self.tokenizerPackage(dir, fixture: "tokenizer-spm", files: ["tokenizer.model", "tokenizer_config.json"], seed: 12)
        #expect(Set(package.manifest.files?.keys.map { $0 } ?? []) == ["tokenizer/tokenizer.model", "tokenizer/tokenizer_config.json"])
        let notes = try GGUFExport.export(package, type: .f32, to: dir.file("spm.gguf"))
        #expect(notes.contains("tokenizer: SentencePiece BPE from tokenizer/tokenizer.model, 320 pieces, 1 unused ids padded to the model's 321"), "\(notes)")
        let gguf = try GGUFFile(path: dir.file("spm.gguf"))
        #expect(gguf.value("tokenizer.ggml.model")?.string == "llama")
        guard case .array(_, let tokens)? = gguf.value("tokenizer.ggml.tokens"), case .array(_, let scores)? = gguf.value("tokenizer.ggml.scores"),
              case .array(_, let types)? = gguf.value("tokenizer.ggml.token_type") else {
            Issue.record("no tokens, scores or types")
            return
        }
        // What sentencepiece itself reads from the file (Tests/Fixtures/tokenizer-spm/pieces.json).
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("tokenizer-spm/pieces.json"))) as! [String: Any]
        let pieces = golden["pieces"] as! [[Any]]
        let kinds = ["normal": 1, "unknown": 2, "control": 3, "user_defined": 4, "unused": 5, "byte": 6]
        #expect(tokens.count == 321 && scores.count == 321 && types.count == 321)
        for (i, p) in pieces.enumerated() {
            #expect(tokens[i].string == p[0] as? String, "piece \(i)")
            #expect(scores[i] == .float32(Float((p[1] as! NSNumber).doubleValue)), "score \(i)")
            #expect(types[i] == .int32(Int32(kinds[p[2] as! String]!)), "type \(i)")
        }
        #expect(tokens[320].string == "[PAD320]" && types[320] == .int32(5))
        #expect(gguf.value("tokenizer.ggml.bos_token_id")?.integer == 1 && gguf.value("tokenizer.ggml.eos_token_id")?.integer == 2)
        #expect(gguf.value("tokenizer.ggml.unknown_token_id")?.integer == 0)
        #expect(gguf.value("tokenizer.ggml.add_space_prefix") == .bool(golden["add_dummy_prefix"] as! Bool))
        if let root = Self.interopRoot {
            try Self.keepManifest(package, as: "tokenizer-spm")
            _ = try GGUFExport.export(package, type: .f32, to: "\(root)/tok-spm-f32.gguf", overwrite: true)
            let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("tokenizer-spm/expected.json"))) as! [String: [Int]]
            try Self.writeLogits(package, name: "tok-spm-f32", ids: expected["MM1 converts vision and language weights"]!)
        }
    }

    /// A package of a model whose vocabulary is a tokenizer fixture's 320 tokens plus the image placeholder (id 320,
    /// which the tokenizer lacks: padded), imported from a checkpoint with the fixture's `files` beside its weights.
    static func tokenizerPackage(_ dir: TemporaryDirectory, fixture: String, files: [String], seed: UInt64) throws -> MM1Package {
        var config = Preset.preset(.tinyDense).config
        config.language.vocabSize = 321
        config.language.imageTokenID = 320
        let source = dir.file("checkpoint")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try synthesize(config, seed: seed, to: "\(source)/model.safetensors")
        for name in files {
            try FileManager.default.copyItem(atPath: Fixtures.path("\(fixture)/\(name)"), toPath: "\(source)/\(name)")
        }
        var importer = Importer()
        importer.tokenizerFiles = TokenizerFiles.find(beside: source)
        try importer.run(try Checkpoint.open("\(source)/model.safetensors"), config: config, to: dir.file("\(fixture).mm1"))
        return try MM1Package.open(dir.file("\(fixture).mm1"))
    }

    /// A canonical f32 checkpoint of `config`'s graph: seeded uniform weights in ±0.1, norm weights 1.
    static func synthesize(_ config: MM1Config, seed: UInt64, to path: String) throws {
        var state = seed
        let entries = try MM1Model(graphOf: config).specs.map { spec -> (SafetensorsLayout.Entry, [UInt8]) in
            let values = (0..<spec.shape.elementCount).map { _ -> Float in
                if spec.role == .normWeight { return 1 }
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return (Float(state >> 40) / Float(1 << 24) - 0.5) * 0.2
            }
            return (.init(name: spec.name, dtype: .f32, shape: spec.shape), values.withUnsafeBytes { Array($0) })
        }
        try writeSafetensors(entries, to: path)
    }

    static var interopRoot: String? {
        guard let root = ProcessInfo.processInfo.environment["MM1_INTEROP_DIR"], !root.isEmpty else { return nil }
        try? FileManager.default.createDirectory(atPath: "\(root)/runtimes", withIntermediateDirectories: true)
        return "\(root)/runtimes"
    }

    static let tokenIDs = [1, 5, 9, 200, 17, 3, 44, 100, 7, 250, 31, 64]

    /// Our text-only logits for `ids` on `package`, as `logits-NAME.safetensors` (`ids` I64, `logits` F32 [T, V]).
    static func writeLogits(_ package: MM1Package, name: String, ids tokenIDs: [Int] = tokenIDs) throws {
        guard let root = interopRoot else { return }
        let inputs = ForwardInputs(pixelValues: nil, imageSize: package.manifest.config.vision.imageSize, inputIDs: [tokenIDs])
        let stages = try MM1Forward(model: package.model, weights: ViewWeights<StoredTensor>()).run(inputs) { $0 == "logits" }
        let logits = stages["logits"]!
        let ids = tokenIDs.map(Int64.init)
        try? FileManager.default.removeItem(atPath: "\(root)/logits-\(name).safetensors")
        try writeSafetensors([
            (.init(name: "ids", dtype: .i64, shape: [ids.count]), ids.withUnsafeBytes { Array($0) }),
            (.init(name: "logits", dtype: .f32, shape: try Shape(Array(logits.shape.dropFirst()))), logits.values.withUnsafeBytes { Array($0) }),
        ], to: "\(root)/logits-\(name).safetensors")
    }

    /// Copies `package`'s manifest to MM1_INTEROP_DIR/manifests/NAME.json, which check_schemas.py validates.
    static func keepManifest(_ package: MM1Package, as name: String) throws {
        guard let root = interopRoot else { return }
        let folder = (root as NSString).deletingLastPathComponent + "/manifests"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: "\(folder)/\(name).json")
        try FileManager.default.copyItem(atPath: "\(package.path)/mm1.json", toPath: "\(folder)/\(name).json")
    }

    /// Leaves the GGUF and MLX exports of `package` and its logits in MM1_INTEROP_DIR/runtimes.
    static func interop(name: String, package: MM1Package, mlx: String) throws {
        guard let root = interopRoot else { return }
        try keepManifest(package, as: name)
        try? FileManager.default.removeItem(atPath: "\(root)/\(name)-mlx")
        try FileManager.default.copyItem(atPath: mlx, toPath: "\(root)/\(name)-mlx")
        let type = GGUFExport.defaultType(for: package)
        _ = try GGUFExport.export(package, type: type, to: "\(root)/\(name).gguf", overwrite: true)
        try writeLogits(package, name: name)
        // Our reader's values of every block-quantized tensor of that GGUF, under its GGUF names, for gguf-py's
        // dequantize to match (the round-trip test shows they are the package's values).
        let gguf = try GGUFFile(path: "\(root)/\(name).gguf")
        let blockTensors = try gguf.ggufTensors.filter { $0.type.plainDType == nil }.map { t in
            (SafetensorsLayout.Entry(name: t.name, dtype: .f32, shape: try Shape([t.elementCount])), try gguf.view(named: t.name).floats().withUnsafeBytes { Array($0) })
        }
        try? FileManager.default.removeItem(atPath: "\(root)/gguf-dequantized-\(name).safetensors")
        try writeSafetensors(blockTensors, to: "\(root)/gguf-dequantized-\(name).safetensors")
        // Our dequantized decoder matrices under their MLX names, for mlx.core.dequantize to match.
        var entries: [(SafetensorsLayout.Entry, [UInt8])] = []
        for spec in package.model.specs where spec.component == .language {
            guard let q = try package.parameter(named: spec.name).quantized else { continue }
            entries.append((.init(name: MLXExportNames.name(spec.name), dtype: .f32, shape: spec.shape), q.floats().withUnsafeBytes { Array($0) }))
        }
        try? FileManager.default.removeItem(atPath: "\(root)/dequantized-\(name).safetensors")
        try writeSafetensors(entries, to: "\(root)/dequantized-\(name).safetensors")
    }
}

/// The MLX names of canonical language parameters, as the export writes them.
enum MLXExportNames {
    static func name(_ canonical: String) -> String {
        let p = canonical.split(separator: ".").map(String.init)
        let layer = "model.layers.\(p[2])."
        switch p[3] {
        case "attention": return layer + "self_attn.\(p[4])_proj.\(p[5])"
        case "mlp": return layer + "mlp.\(p[4])_proj.\(p[5])"
        default: return canonical
        }
    }
}
