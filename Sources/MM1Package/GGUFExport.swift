import Foundation
import MM1Formats
import MM1Graph
import MM1Tensor

/// `mm1conv export --format gguf`: the language model of a package as a GGUF v3 file with llama.cpp's
/// `llama` architecture names and metadata keys (as convert_hf_to_gguf.py writes them), q and k rows
/// permuted for ggml's rotary, in F32, F16, Q8_0 or Q4_0. Streams tensor by tensor.
public enum GGUFExport {
    /// The storage type of the large matrices.
    public enum TensorType: String, Sendable, CaseIterable {
        case f32, f16, q8_0, q4_0

        var ggml: GGMLType {
            switch self {
            case .f32: .f32
            case .f16: .f16
            case .q8_0: .q8_0
            case .q4_0: .q4_0
            }
        }
        /// `general.file_type` (llama_ftype).
        var fileType: UInt32 {
            switch self {
            case .f32: 0
            case .f16: 1
            case .q8_0: 7
            case .q4_0: 2
            }
        }
    }

    /// llama.cpp's name for a canonical language parameter, and whether its rows are rotary-permuted.
    static func ggufName(_ canonical: String) -> (name: String, rotary: Bool)? {
        let parts = canonical.split(separator: ".").map(String.init)
        guard parts.first == "language" else { return nil }
        switch parts.count {
        case 3 where parts[1] == "embed_tokens": return ("token_embd.weight", false)
        case 3 where parts[1] == "norm": return ("output_norm.weight", false)
        case 3 where parts[1] == "lm_head": return ("output.weight", false)
        default: break
        }
        guard parts.count >= 5, parts[1] == "layers", let layer = Int(parts[2]) else { return nil }
        let blk = "blk.\(layer)."
        let rest = parts[3...].joined(separator: ".")
        switch rest {
        case "attention_norm.weight": return (blk + "attn_norm.weight", false)
        case "mlp_norm.weight": return (blk + "ffn_norm.weight", false)
        case "moe.router.weight": return (blk + "ffn_gate_inp.weight", false)
        default: break
        }
        if parts[3] == "attention", parts.count == 6 {
            let which = ["q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output"][parts[4]]!
            return (blk + which + "." + parts[5], parts[4] == "q" || parts[4] == "k")
        }
        if parts[3] == "mlp", parts.count == 6 { return (blk + "ffn_\(parts[4]).weight", false) }
        if parts[3] == "moe", parts[4] == "experts", parts.count == 6 { return (blk + "ffn_\(parts[5])_exps.weight", false) }
        return nil
    }

    /// Writes `package`'s language model to `path`; returns notes on choices made (kept-in-float tensors, …).
    public static func export(_ package: MM1Package, type: TensorType, to path: String, overwrite: Bool = false) throws -> [String] {
        let config = package.manifest.config.language
        var notes: [String] = []
        let graph = try MM1Model(graphOf: package.manifest.config)
        var plan: [(spec: ParameterSpec, tensor: GGUFWriter.Tensor, rotary: Bool)] = []
        for spec in graph.specs where spec.component == .language {
            guard let (name, rotary) = ggufName(spec.name) else { throw ExportError.unmappable(spec.name) }
            let dims = spec.shape.dimensions
            // Kept in float: vectors, the router, the token embedding and the output head (as `quantize` does);
            // rows that are not whole blocks of 32 fall back to F16.
            var ggml = type.ggml
            if dims.count < 2 || spec.name.hasSuffix("router.weight") { ggml = .f32 }
            else if type == .q8_0 || type == .q4_0 {
                if spec.role == .tokenEmbedding || spec.role == .outputHead { ggml = .f16 }
                else if dims.last! % 32 != 0 {
                    ggml = .f16
                    notes.append("\(name): rows of \(dims.last!) are not whole blocks of 32: stored as F16")
                }
            }
            plan.append((spec, GGUFWriter.Tensor(name: name, type: ggml, dimensions: dims.reversed()), rotary))
        }
        if type == .q8_0 || type == .q4_0 { notes.append("token_embd, output, norms and the MoE router are kept in F16/F32") }

        var metadata: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string("llama")),
            ("general.name", .string(((package.path as NSString).lastPathComponent as NSString).deletingPathExtension)),
            ("llama.context_length", .uint32(4096)),
            ("llama.embedding_length", .uint32(UInt32(config.hiddenSize))),
            ("llama.block_count", .uint32(UInt32(config.layers))),
            ("llama.feed_forward_length", .uint32(UInt32(config.intermediateSize))),
            ("llama.rope.dimension_count", .uint32(UInt32(config.headDim))),
            ("llama.attention.head_count", .uint32(UInt32(config.heads))),
            ("llama.attention.head_count_kv", .uint32(UInt32(config.kvHeads))),
            ("llama.attention.layer_norm_rms_epsilon", .float32(Float(config.rmsNormEps))),
            ("llama.rope.freq_base", .float32(Float(config.ropeTheta))),
            ("llama.vocab_size", .uint32(UInt32(config.vocabSize))),
        ]
        if config.headDim != config.hiddenSize / config.heads {
            metadata += [("llama.attention.key_length", .uint32(UInt32(config.headDim))), ("llama.attention.value_length", .uint32(UInt32(config.headDim)))]
        }
        if let moe = config.moe {
            metadata += [("llama.expert_count", .uint32(UInt32(moe.experts))), ("llama.expert_used_count", .uint32(UInt32(moe.topK))),
                         ("llama.expert_feed_forward_length", .uint32(UInt32(moe.expertIntermediateSize)))]
            if moe.sparseLayers.count != config.layers {
                notes.append("MoE layers \(moe.sparseLayers) interleave with dense ones: llama.cpp's llama architecture cannot load this layout (mm1conv reads it back)")
            }
        }
        metadata.append(("general.file_type", .uint32(type.fileType)))
        metadata.append((configKey, .string(String(decoding: try package.manifest.config.jsonData(), as: UTF8.self))))
        if type == .q8_0 || type == .q4_0 { metadata.append(("general.quantization_version", .uint32(2))) }
        notes.append("llama.context_length is not in an MM1 config: written as 4096; no tokenizer section (MM1 packages carry none)")

        let writer = try GGUFWriter(path: path, metadata: metadata, tensors: plan.map(\.tensor), overwrite: overwrite)
        for (spec, tensor, rotary) in plan {
            var values = try package.parameter(named: spec.name).floats()
            if rotary { values = permuteRotary(values, rows: spec.shape.dimensions[0], headDim: config.headDim) }
            guard values.allSatisfy(\.isFinite) else { throw ExportError.nonFinite(spec.name) }
            try encode(values, as: tensor) { try writer.write(tensor.name, bytes: $0) }
        }
        try writer.commit()
        return notes
    }

    /// The metadata key holding the whole MM1 config as JSON, in both exported files.
    public static let configKey = "mm1conv.config"

    /// Writes the image encoder and connector of `package` to `path` (llama.cpp has no C-Abstractor, so
    /// this second file keeps mm1conv's canonical tensor names, documented by `inspect --graph`), with
    /// `general.architecture = "mm1conv-vision"` and the config under ``configKey``. Matrices are F32 for
    /// `--type f32`, else F16; vectors F32. Reading the two files back (a folder holding both) gives the package.
    public static func exportVision(_ package: MM1Package, type: TensorType, to path: String, overwrite: Bool = false) throws {
        let graph = try MM1Model(graphOf: package.manifest.config)
        let specs = graph.specs.filter { $0.component != .language }
        let tensors = specs.map { spec -> GGUFWriter.Tensor in
            let dims = spec.shape.dimensions
            return GGUFWriter.Tensor(name: spec.name, type: dims.count < 2 || type == .f32 ? .f32 : .f16, dimensions: dims.reversed())
        }
        let metadata: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string("mm1conv-vision")),
            ("general.name", .string(((package.path as NSString).lastPathComponent as NSString).deletingPathExtension)),
            (configKey, .string(String(decoding: try package.manifest.config.jsonData(), as: UTF8.self))),
        ]
        let writer = try GGUFWriter(path: path, metadata: metadata, tensors: tensors, overwrite: overwrite)
        for (spec, tensor) in zip(specs, tensors) {
            try encode(try package.parameter(named: spec.name).floats(), as: tensor) { try writer.write(tensor.name, bytes: $0) }
        }
        try writer.commit()
    }

    /// `values` stored as `tensor.type` (F32 copied, F16 converted, Q8_0/Q4_0 quantized), handed to `body`.
    static func encode(_ values: [Float], as tensor: GGUFWriter.Tensor, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var bytes = [UInt8](repeating: 0, count: tensor.byteCount)
        values.withUnsafeBufferPointer { x in
            bytes.withUnsafeMutableBytes { out in
                switch tensor.type.id {
                case GGMLType.q8_0.id: GGUFQuantizer.quantizeQ8_0(x, into: out)
                case GGMLType.q4_0.id: GGUFQuantizer.quantizeQ4_0(x, into: out)
                case GGMLType.f16.id: try! DTypeConversion.fromFloat32(x, to: .f16, into: out)  // sizes match by construction
                default: out.copyMemory(from: UnsafeRawBufferPointer(x))
                }
            }
        }
        try bytes.withUnsafeBytes(body)
    }

    /// llama.cpp's rotary permutation of q/k rows: GGUF row `h·d + 2i + j` is canonical row `h·d + j·d/2 + i`.
    static func permuteRotary(_ values: [Float], rows: Int, headDim d: Int) -> [Float] {
        let cols = values.count / rows
        var out = values
        for r in 0..<rows {
            let (h, within) = r.quotientAndRemainder(dividingBy: d)
            let (i, j) = within.quotientAndRemainder(dividingBy: 2)
            let source = h * d + j * (d / 2) + i
            out.replaceSubrange((r * cols)..<((r + 1) * cols), with: values[(source * cols)..<((source + 1) * cols)])
        }
        return out
    }

    /// Why a package cannot be exported.
    public enum ExportError: Error, CustomStringConvertible {
        case unmappable(String)
        case nonFinite(String)
        public var description: String {
            switch self {
            case .unmappable(let name): "\(name) has no GGUF name"
            case .nonFinite(let name): "\(name) holds NaN or infinity: refusing to quantize or export it"
            }
        }
    }
}
