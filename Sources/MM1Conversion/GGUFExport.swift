import Foundation
import MM1Formats
import MM1Graph
import MM1Quantization
import MM1Tensor
import MM1PackageFormat

/// `mm1conv export --format gguf`: the language model of a package as a GGUF v3 file with llama.cpp's
/// `llama` architecture names and metadata keys (as convert_hf_to_gguf.py writes them), q and k rows
/// permuted for ggml's rotary, in F32, F16, Q8_0, Q4_0 or IQ4_NL. Streams tensor by tensor.
public enum GGUFExport {
    /// The storage type of the large matrices.
    public enum TensorType: String, Sendable, CaseIterable {
        case f32, f16, q8_0, q4_0, iq4_nl

        var ggml: GGMLType {
            switch self {
            case .f32: .f32
            case .f16: .f16
            case .q8_0: .q8_0
            case .q4_0: .q4_0
            case .iq4_nl: .iq4_nl
            }
        }
        /// `general.file_type` (llama_ftype).
        var fileType: UInt32 {
            switch self {
            case .f32: 0
            case .f16: 1
            case .q8_0: 7
            case .q4_0: 2
            case .iq4_nl: 25
            }
        }
        /// True for the block-quantized types (matrices in blocks of 32; embeddings, head and norms kept in float).
        var isBlockQuantized: Bool { self == .q8_0 || self == .q4_0 || self == .iq4_nl }
    }

    /// The ggml block type whose blocks are exactly a quantized parameter's codes and scales: groups of 32
    /// with f16 scales, int8 symmetric → Q8_0, int4 symmetric → Q4_0, int4 nonlinear → IQ4_NL.
    public static func ggmlType(of format: QuantizedFormat, scales: DType) -> GGMLType? {
        guard scales == .f16 else { return nil }
        return blockFormats.first { $0.format == format }?.type
    }

    /// Each ggml block type mm1conv writes and the quantized format whose codes and f16 scales are its blocks.
    static let blockFormats: [(type: GGMLType, format: QuantizedFormat)] = [
        (.q8_0, QuantizedFormat(bits: .int8, mode: .symmetric, groupSize: 32)),
        (.q4_0, QuantizedFormat(bits: .int4, mode: .symmetric, groupSize: 32)),
        (.iq4_nl, QuantizedFormat(bits: .int4, mode: .nonlinear, groupSize: 32)),
    ]

    /// The type a package exports to by default: when most of its quantized decoder weights are int4,
    /// IQ4_NL if most of those are nonlinear, else Q4_0; Q8_0 when int8; F16 for an unquantized package.
    public static func defaultType(for package: MM1Package) -> TensorType {
        let quantized = package.manifest.tensors.compactMap { name, entry in name.hasPrefix("language.") ? entry.quantization : nil }
        guard !quantized.isEmpty else { return .f16 }
        let int4 = quantized.filter { $0.bits == .int4 }
        guard int4.count * 2 >= quantized.count else { return .q8_0 }
        return int4.filter { $0.mode == .nonlinear }.count * 2 > int4.count ? .iq4_nl : .q4_0
    }

    /// The ggml blocks of a quantized parameter whose format is exactly `type`'s (see
    /// ``ggmlType(of:scales:)``), row by row; nil when it must be requantized.
    static func ggmlBlocks(_ q: QuantizedTensor, as type: GGMLType) -> [UInt8]? {
        let f = q.format
        guard ggmlType(of: f, scales: q.scales.dtype) == type else { return nil }
        let groups = q.layout.rows * q.layout.groupsPerRow
        let block = f.bits == .int8 ? 34 : 18
        var out = [UInt8](repeating: 0, count: groups * block)
        out.withUnsafeMutableBytes { out in q.codes.withUnsafeBytes { codes in
            q.scales.withUnsafeBytes { scales in
                for g in 0..<groups {
                    let o = g * block
                    out[o] = scales[2 * g]
                    out[o + 1] = scales[2 * g + 1]
                    if f.bits == .int8 {
                        for j in 0..<32 { out[o + 2 + j] = codes[32 * g + j] }
                    } else {
                        GGMLNibbles.ggmlOrder(fromPairs: UnsafeRawBufferPointer(rebasing: codes[(16 * g)..<(16 * g + 16)]),
                                              into: UnsafeMutableRawBufferPointer(rebasing: out[(o + 2)..<(o + 18)]))
                    }
                }
            }
        } }
        return out
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
            else if type.isBlockQuantized {
                if spec.role == .tokenEmbedding || spec.role == .outputHead { ggml = .f16 }
                else if dims.last! % 32 != 0 {
                    ggml = .f16
                    notes.append("\(name): rows of \(dims.last!) are not whole blocks of 32: stored as F16")
                }
            }
            plan.append((spec, GGUFWriter.Tensor(name: name, type: ggml, dimensions: dims.reversed()), rotary))
        }
        if type.isBlockQuantized { notes.append("token_embd, output, norms and the MoE router are kept in F16/F32") }

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
        // The source's tokenizer when the package carries one (byte-level BPE); else llama.cpp's "none" vocabulary,
        // which takes token ids only (llama.vocab_size of them).
        let tokenizer = GGUFTokenizer.metadata(package, vocabSize: config.vocabSize)
        metadata += tokenizer.keys
        notes.append(tokenizer.note)
        metadata.append(("general.file_type", .uint32(type.fileType)))
        metadata.append((configKey, .string(String(decoding: try package.manifest.config.jsonData(), as: UTF8.self))))
        if type.isBlockQuantized { metadata.append(("general.quantization_version", .uint32(2))) }
        notes.append("llama.context_length is not in an MM1 config: written as 4096")

        let writer = try GGUFWriter(path: path, metadata: metadata, tensors: plan.map(\.tensor), overwrite: overwrite)
        var carried = 0, requantized: [String] = []
        for (spec, tensor, rotary) in plan {
            let stored = try package.parameter(named: spec.name)
            if let q = stored.quantized, var blocks = ggmlBlocks(q, as: tensor.type) {
                if rotary { blocks = permuteRotary(blocks, rows: spec.shape.dimensions[0], headDim: config.headDim) }
                try blocks.withUnsafeBytes { try writer.write(tensor.name, bytes: $0) }
                carried += 1
                continue
            }
            if let q = stored.quantized, tensor.type.blockSize == 32 {
                requantized.append("\(tensor.name) (\(q.format))")
            }
            var values = try stored.floats()
            if rotary { values = permuteRotary(values, rows: spec.shape.dimensions[0], headDim: config.headDim) }
            guard values.allSatisfy(\.isFinite) else { throw ExportError.nonFinite(spec.name) }
            try encode(values, as: tensor) { try writer.write(tensor.name, bytes: $0) }
        }
        try writer.commit()
        if carried > 0 { notes.append("\(carried) quantized matrices carried over as \(type.rawValue.uppercased()) blocks without requantizing") }
        if !requantized.isEmpty {
            let native = ["q8_0": "int8 symmetric", "q4_0": "int4 symmetric", "iq4_nl": "int4 nonlinear"][type.rawValue] ?? type.rawValue
            notes.append("requantized to \(type.rawValue.uppercased()) (their format is not \(native) g32 with f16 scales): " + requantized.joined(separator: ", "))
        }
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
        // Quantized matrices in ggml's own formats are carried as Q8_0/Q4_0 blocks; other quantized ones
        // are written dequantized in F32 (exact), plain ones as the --type says.
        let stored = try specs.map { try package.parameter(named: $0.name) }
        let tensors = zip(specs, stored).map { spec, p -> GGUFWriter.Tensor in
            let dims = spec.shape.dimensions
            if let q = p.quantized {
                let kind = ggmlType(of: q.format, scales: q.scales.dtype) ?? .f32
                return GGUFWriter.Tensor(name: spec.name, type: kind, dimensions: dims.reversed())
            }
            return GGUFWriter.Tensor(name: spec.name, type: dims.count < 2 || type == .f32 ? .f32 : .f16, dimensions: dims.reversed())
        }
        let metadata: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string("mm1conv-vision")),
            ("general.name", .string(((package.path as NSString).lastPathComponent as NSString).deletingPathExtension)),
            (configKey, .string(String(decoding: try package.manifest.config.jsonData(), as: UTF8.self))),
        ]
        let writer = try GGUFWriter(path: path, metadata: metadata, tensors: tensors, overwrite: overwrite)
        for (p, tensor) in zip(stored, tensors) {
            if let q = p.quantized, let blocks = ggmlBlocks(q, as: tensor.type) {
                try blocks.withUnsafeBytes { try writer.write(tensor.name, bytes: $0) }
            } else {
                try encode(try p.floats(), as: tensor) { try writer.write(tensor.name, bytes: $0) }
            }
        }
        try writer.commit()
    }

    /// `values` stored as `tensor.type` (F32 copied, F16 converted, Q8_0/Q4_0/IQ4_NL quantized), handed to `body`.
    static func encode(_ values: [Float], as tensor: GGUFWriter.Tensor, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        if let format = blockFormats.first(where: { $0.type == tensor.type })?.format {
            // Block types are quantized as the package formats they equal (the symmetric path is ggml's
            // Q8_0/Q4_0 arithmetic), then laid out as blocks.
            let cols = Int(tensor.dimensions[0])
            let q = try GroupQuantizer(format: format, scaleDType: .f16).quantize(tensor.name, values, shape: [values.count / cols, cols])
            try ggmlBlocks(q, as: tensor.type)!.withUnsafeBytes(body)
            return
        }
        var bytes = [UInt8](repeating: 0, count: tensor.byteCount)
        values.withUnsafeBufferPointer { x in
            bytes.withUnsafeMutableBytes { out in
                switch tensor.type.id {
                case GGMLType.f16.id: try! DTypeConversion.fromFloat32(x, to: .f16, into: out)  // sizes match by construction
                default: out.copyMemory(from: UnsafeRawBufferPointer(x))
                }
            }
        }
        try bytes.withUnsafeBytes(body)
    }

    /// llama.cpp's rotary permutation of q/k rows: GGUF row `h·d + 2i + j` is canonical row `h·d + j·d/2 + i`
    /// (rows of values, or of ggml blocks).
    static func permuteRotary<T>(_ values: [T], rows: Int, headDim d: Int) -> [T] {
        let cols = values.count / rows
        var out = values
        for r in 0..<rows {
            let source = MappingTransform.canonicalRow(ofGGUFRow: r, headDim: d)
            out.replaceSubrange((r * cols)..<((r + 1) * cols), with: values[(source * cols)..<((source + 1) * cols)])
        }
        return out
    }

    /// Why a package cannot be exported.
    public enum ExportError: Error, CustomStringConvertible {
        case unmappable(String)
        case nonFinite(String)
        /// Parameters the chosen naming dialects cannot name (safetensors export).
        case unnamed(String)
        public var description: String {
            switch self {
            case .unnamed(let detail): detail
            case .unmappable(let name): "\(name) has no GGUF name"
            case .nonFinite(let name): "\(name) holds NaN or infinity: refusing to quantize or export it"
            }
        }
    }
}
