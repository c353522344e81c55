import Foundation
import MM1Formats
import MM1Graph
import MM1Quantization
import MM1Tensor
import MM1PackageFormat

/// `mm1conv export --format mlx`: a package in MLX's layout, which mlx-lm loads.
///
/// The folder holds `config.json` (Hugging Face llama or mixtral keys, plus MLX's `quantization`
/// block with per-layer entries where a layer differs from the default), `model.safetensors` (the
/// language model under Hugging Face / mlx-lm names) and `mm1-vision.safetensors` (image encoder and
/// connector under mm1conv's canonical names). Quantized parameters are written as MLX stores them:
/// `NAME.weight` uint32 words of packed codes (first element in the lowest bits: our bytes as
/// they are), `NAME.scales` and `NAME.biases` (affine; symmetric codes become `n = q + 2^(bits−1)`
/// with bias `−2^(bits−1)·s`, exact in f16). `mlx.core.dequantize` of them, computed in f32, equals
/// mm1conv's dequantized weights bit for bit. Layers whose group size MLX does not support (int8 per
/// output channel) are requantized to affine groups of 64, and the notes say so.
public enum MLXExport {
    /// Group sizes MLX's quantized kernels take.
    public static let groupSizes: Set<Int> = [32, 64, 128]

    /// mlx-lm's name of a canonical language parameter (llama / mixtral), or nil for other components.
    static func mlxName(_ canonical: String) -> String? {
        let p = canonical.split(separator: ".").map(String.init)
        guard p.first == "language" else { return nil }
        switch p.count {
        case 3 where p[1] == "embed_tokens": return "model.embed_tokens.weight"
        case 3 where p[1] == "norm": return "model.norm.weight"
        case 3 where p[1] == "lm_head": return "lm_head.weight"
        default: break
        }
        guard p.count >= 5, p[1] == "layers" else { return nil }
        let layer = "model.layers.\(p[2])."
        switch (p[3], p.count) {
        case ("attention_norm", 5): return layer + "input_layernorm.weight"
        case ("mlp_norm", 5): return layer + "post_attention_layernorm.weight"
        case ("attention", 6): return layer + "self_attn.\(p[4])_proj.\(p[5])"
        case ("mlp", 6): return layer + "mlp.\(p[4])_proj.\(p[5])"
        case ("moe", 5) where p[4] == "router": return nil
        case ("moe", 6) where p[4] == "router": return layer + "block_sparse_moe.gate.\(p[5])"
        case ("moe", 6) where p[4] == "experts": return layer + "block_sparse_moe.switch_mlp.\(p[5])_proj.weight"
        default: return nil
        }
    }

    /// One output tensor: a stored view written as it is (no copy), or bytes made when it is written.
    struct Item {
        let entry: SafetensorsLayout.Entry
        let view: TensorView?
        let make: (() throws -> [UInt8])?

        init(_ entry: SafetensorsLayout.Entry, view: TensorView) {
            self.entry = entry
            self.view = view
            make = nil
        }

        init(_ entry: SafetensorsLayout.Entry, make: @escaping () throws -> [UInt8]) {
            self.entry = entry
            view = nil
            self.make = make
        }
    }

    /// Writes `package` to the folder `path` (replaced only with `overwrite`); returns notes.
    public static func export(_ package: MM1Package, to path: String, overwrite: Bool = false) throws -> [String] {
        let config = package.manifest.config
        let graph = try MM1Model(graphOf: config)
        if let moe = config.language.moe, moe.sparseLayers.count != config.language.layers {
            throw GGUFExport.ExportError.unmappable("MoE layers \(moe.sparseLayers) interleaved with dense ones (mlx-lm's mixtral needs every layer sparse)")
        }
        var notes: [String] = []
        var language: [Item] = [], vision: [Item] = []
        var formats: [String: QuantizedFormat] = [:]  // module path → format
        let converter = Converter()
        for spec in graph.specs {
            let stored = try package.parameter(named: spec.name)
            let name: String
            if spec.component == .language {
                guard let n = mlxName(spec.name) else { throw GGUFExport.ExportError.unmappable(spec.name) }
                name = n
            } else {
                name = spec.name
            }
            let items: [Item]
            if let q = stored.quantized, let (parts, format, note) = try converter.parts(q, mlxName: name) {
                if let note { notes.append(note) }
                items = parts
                formats[parts[0].entry.name.replacingOccurrences(of: ".weight", with: "", options: [.anchored, .backwards])] = format
            } else if let q = stored.quantized {
                notes.append("\(q.name): \(q.format) of \(q.layout.shape) fits no MLX group size (32, 64, 128): written dequantized in F32")
                let values = q.floats()
                items = [Item(.init(name: name, dtype: .f32, shape: try Shape(q.layout.shape))) { values.withUnsafeBytes { Array($0) } }]
            } else {
                let view = stored.view!
                items = [Item(.init(name: name, dtype: view.dtype, shape: view.shape), view: view)]
            }
            if spec.component == .language { language += items } else { vision += items }
        }

        let staging = try StagingFolder(beside: path)
        try write(language, to: "\(staging.path)/model.safetensors")
        try write(vision, to: "\(staging.path)/mm1-vision.safetensors")
        let configData = try StableJSON.encode(MLXConfigValue.object(try mlxConfig(config, formats: formats))) + Data("\n".utf8)
        let file = try AtomicFile(path: "\(staging.path)/config.json")
        try file.write(Array(configData))
        try file.commit()
        try TokenizerFiles.copy(from: package, into: staging.path)
        try staging.moveInto(path, overwrite: overwrite)
        return notes
    }

    static func write(_ items: [Item], to path: String) throws {
        let layout = try SafetensorsLayout(entries: items.map(\.entry), metadata: ["format": "mlx"])
        let writer = try SafetensorsWriter(path: path, layout: layout)
        let byName = Dictionary(uniqueKeysWithValues: items.map { ($0.entry.name, $0) })
        for info in layout.tensors {
            let item = byName[info.name]!
            if let view = item.view {
                try view.withUnsafeBytes { try writer.write(info.name, bytes: $0) }
            } else if let make = item.make {
                try make().withUnsafeBytes { try writer.write(info.name, bytes: $0) }
            }
        }
        try writer.commit()
    }

    /// Turns our quantized parameters into MLX's parts.
    struct Converter {
        /// Parts of `q` under `mlxName` (`….weight` → `….weight`, `….scales`, `….biases`), its MLX
        /// format, and a note when it had to be requantized; nil when no MLX group size divides its rows.
        func parts(_ q: QuantizedTensor, mlxName: String) throws -> ([Item], QuantizedFormat, String?)? {
            let base = mlxName.hasSuffix(".weight") ? String(mlxName.dropLast(7)) : mlxName
            var source = q
            var note: String?
            if !MLXExport.groupSizes.contains(q.format.groupSize) || q.format.mode == .nonlinear {
                // MLX has no per-channel groups and no nonlinear levels: requantize the dequantized values,
                // affine, in the same groups when MLX has them, else groups of 64 (or 32, 128).
                let sizes = q.format.mode == .nonlinear ? [q.format.groupSize, 64, 32, 128] : [64, 32, 128]
                guard let group = sizes.first(where: { MLXExport.groupSizes.contains($0) && q.layout.cols % $0 == 0 }) else { return nil }
                let format = QuantizedFormat(bits: q.format.bits, mode: .affine, groupSize: group)
                source = try GroupQuantizer(format: format, scaleDType: .f16, optimizeScales: true).quantize(q.name, q.floats(), shape: q.layout.shape)
                let why = q.format.mode == .nonlinear ? "MLX has no nonlinear levels" : "MLX's groups are 32, 64 or 128"
                note = "\(q.name): \(q.format) has no MLX equivalent (\(why)): requantized to \(format) with searched ranges"
            }
            let layout = source.layout, format = layout.format
            let bits = format.bits.bits
            let words = layout.shape.dropLast() + [layout.cols * bits / 32]
            let scaleDType = source.scales.dtype
            let codeEntry = SafetensorsLayout.Entry(name: base + ".weight", dtype: .u32, shape: try Shape(Array(words)))
            // Our bytes are MLX's words, except symmetric int8's signed codes: n = q + 128 is the byte with its top bit flipped.
            let codes = format.bits == .int8 && format.mode == .symmetric
                ? Item(codeEntry) { [source] in source.codes.withUnsafeBytes { $0.map { $0 ^ 0x80 } } }
                : Item(codeEntry, view: source.codes)
            let scales = Item(.init(name: base + ".scales", dtype: scaleDType, shape: try Shape(layout.scales)), view: source.scales)
            let biasEntry = SafetensorsLayout.Entry(name: base + ".biases", dtype: scaleDType, shape: try Shape(layout.scales))
            if let b = source.biases {
                return ([codes, scales, Item(biasEntry, view: b)], QuantizedFormat(bits: format.bits, mode: .affine, groupSize: format.groupSize), note)
            }
            let biases = Item(biasEntry) { [source] in
                // Symmetric: b = −2^(bits−1)·s, a power-of-two multiple: exact unless it overflows.
                let s = try source.scales.floats()
                let offset = Float(1 << (bits - 1))
                let b = s.map { -offset * $0 }
                if scaleDType == .f16, let bad = b.first(where: { abs($0) > 65504 }) {
                    throw QuantizationError(tensor: source.name, reason: .scaleOverflow("bias \(bad) for MLX does not fit in f16"))
                }
                var out = [UInt8](repeating: 0, count: b.count * scaleDType.byteWidth!)
                try b.withUnsafeBufferPointer { src in try out.withUnsafeMutableBytes { try DTypeConversion.fromFloat32(src, to: scaleDType, into: $0) } }
                return out
            }
            return ([codes, scales, biases], QuantizedFormat(bits: format.bits, mode: .affine, groupSize: format.groupSize), note)
        }
    }

    /// `config.json` for mlx-lm: Hugging Face llama / mixtral keys, MLX's quantization block and the MM1 config.
    static func mlxConfig(_ config: MM1Config, formats: [String: QuantizedFormat]) throws -> [String: MLXConfigValue] {
        let l = config.language
        var c: [String: MLXConfigValue] = [
            "model_type": .string(l.moe == nil ? "llama" : "mixtral"),
            "architectures": .array([.string(l.moe == nil ? "LlamaForCausalLM" : "MixtralForCausalLM")]),
            "hidden_size": .int(l.hiddenSize), "num_hidden_layers": .int(l.layers), "intermediate_size": .int(l.intermediateSize),
            "num_attention_heads": .int(l.heads), "num_key_value_heads": .int(l.kvHeads), "head_dim": .int(l.headDim),
            "rms_norm_eps": .double(l.rmsNormEps), "vocab_size": .int(l.vocabSize), "rope_theta": .double(l.ropeTheta),
            "tie_word_embeddings": .bool(l.tieWordEmbeddings), "attention_bias": .bool(l.attentionBias),
            "max_position_embeddings": .int(4096),
        ]
        if let moe = l.moe {
            c["num_local_experts"] = .int(moe.experts)
            c["num_experts_per_tok"] = .int(moe.topK)
        }
        let language = formats.filter { $0.key.hasPrefix("model.") || $0.key.hasPrefix("lm_head") }
        if let common = Dictionary(grouping: language.values, by: { $0 }).max(by: { $0.value.count < $1.value.count || ($0.value.count == $1.value.count && $0.key.description > $1.key.description) })?.key {
            var q: [String: MLXConfigValue] = ["group_size": .int(common.groupSize), "bits": .int(common.bits.bits), "mode": .string("affine")]
            for (module, f) in language where f != common {
                q[module] = .object(["group_size": .int(f.groupSize), "bits": .int(f.bits.bits), "mode": .string("affine")])
            }
            c["quantization"] = .object(q)
            c["quantization_config"] = .object(q)
        }
        c["mm1conv_config"] = .config(config)
        return c
    }
}

/// A JSON value for writing config files with StableJSON.
enum MLXConfigValue: Encodable {
    case string(String), int(Int), double(Double), bool(Bool), null
    case array([MLXConfigValue]), object([String: MLXConfigValue])
    /// An MM1 configuration, encoded as the package manifest encodes it.
    case config(MM1Config)

    func encode(to encoder: any Encoder) throws {
        if case .config(let config) = self { return try config.encode(to: encoder) }
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .bool(let b): try c.encode(b)
        case .null: try c.encodeNil()
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        case .config: break
        }
    }
}
