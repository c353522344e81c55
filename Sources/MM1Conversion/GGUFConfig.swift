import MM1Formats
import MM1Graph
import MM1PackageFormat

/// The decoder's configuration read from a GGUF file's `general.*` / `llama.*` metadata (the keys
/// llama.cpp's convert_hf_to_gguf.py writes), checked against its tensors.
public enum GGUFConfig {
    /// The language model of `file`, and notes on choices the file does not settle.
    /// - Throws: ``ConfigError`` naming the missing or mistyped key.
    public static func language(from file: GGUFFile) throws -> (config: LanguageConfig, notes: [String]) {
        func fail(_ key: String, _ reason: String) -> ConfigError { ConfigError(field: key, reason: reason, file: file.path) }
        guard let arch = file.value("general.architecture")?.string else { throw fail("general.architecture", "is missing") }
        guard arch == "llama" else { throw fail("general.architecture", "is \"\(arch)\"; mm1conv reads llama-architecture decoders") }
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            guard let v = file.value("llama.\(key)") else {
                if let value { return value }
                throw fail("llama.\(key)", "is missing")
            }
            guard let n = v.integer, n >= 0 else { throw fail("llama.\(key)", "is \(v.typeName) \(v), not a non-negative integer") }
            return n
        }
        func number(_ key: String, default value: Double) throws -> Double {
            guard let v = file.value("llama.\(key)") else { return value }
            guard let n = v.number else { throw fail("llama.\(key)", "is \(v.typeName), not a number") }
            return n
        }
        var notes: [String] = []
        let embedding = file.ggufTensor(named: "token_embd.weight")
        let tokens: Int? = if case .array(_, let list)? = file.value("tokenizer.ggml.tokens") { list.count } else { nil }
        let vocab = try int("vocab_size", default: tokens ?? embedding?.shape.first ?? 0)
        let hidden = try int("embedding_length"), heads = try int("attention.head_count")
        guard heads > 0 else { throw fail("llama.attention.head_count", "is 0") }
        let experts = try int("expert_count", default: 0)
        var moe: LanguageConfig.MoE? = nil
        let layers = try int("block_count")
        if experts > 0 {
            let sparse = (0..<layers).filter { file.ggufTensor(named: "blk.\($0).ffn_gate_inp.weight") != nil }
            let expertFFN = try int("expert_feed_forward_length",
                                    default: file.ggufTensor(named: "blk.\(sparse.first ?? 0).ffn_gate_exps.weight")?.shape[1] ?? 0)
            moe = .init(experts: experts, topK: try int("expert_used_count"), expertIntermediateSize: expertFFN, sparseLayers: sparse)
            if sparse.count != layers { notes.append("MoE layers \(sparse) (the others are dense): an interleaved layout llama.cpp's llama architecture does not load") }
        }
        let tied = file.ggufTensor(named: "output.weight") == nil
        if tied { notes.append("no output.weight: the output head is tied to token_embd (as llama.cpp does)") }
        notes.append("GGUF has no image-token id: language.image_token_id is set to the last vocabulary id, \(vocab - 1) (pass --config to choose another)")
        let config = LanguageConfig(
            vocabSize: vocab, hiddenSize: hidden, layers: layers, heads: heads,
            kvHeads: try int("attention.head_count_kv", default: heads),
            headDim: try int("attention.key_length", default: hidden / heads),
            intermediateSize: try int("feed_forward_length", default: 0),
            rmsNormEps: try number("attention.layer_norm_rms_epsilon", default: 1e-5),
            ropeTheta: try number("rope.freq_base", default: 10000), tieWordEmbeddings: tied,
            attentionBias: file.ggufTensor(named: "blk.0.attn_q.bias") != nil, moe: moe, imageTokenID: vocab - 1)
        return (config, notes)
    }
}
