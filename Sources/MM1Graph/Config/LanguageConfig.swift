/// The decoder: LLaMA-style (RMSNorm, RoPE, grouped-query attention, SwiGLU), with optional
/// mixture-of-experts layers.
public struct LanguageConfig: Codable, Sendable, Equatable {
    /// Sparse FFN layers: softmax over router logits, top-k, weights renormalised over the chosen k
    /// (as HF Mixtral) unless `normalizeTopK` is false.
    public struct MoE: Codable, Sendable, Equatable {
        public var experts: Int
        public var topK: Int
        public var expertIntermediateSize: Int
        /// Which decoder layers are sparse, explicitly (MM1's 3B-MoE: every second; Mixtral: all).
        public var sparseLayers: [Int]
        public var normalizeTopK: Bool

        enum CodingKeys: String, CodingKey {
            case experts
            case topK = "top_k"
            case expertIntermediateSize = "expert_intermediate_size"
            case sparseLayers = "sparse_layers"
            case normalizeTopK = "normalize_top_k"
        }

        public init(experts: Int, topK: Int, expertIntermediateSize: Int, sparseLayers: [Int], normalizeTopK: Bool = true) {
            self.experts = experts
            self.topK = topK
            self.expertIntermediateSize = expertIntermediateSize
            self.sparseLayers = sparseLayers
            self.normalizeTopK = normalizeTopK
        }
    }

    public var vocabSize: Int
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var intermediateSize: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var tieWordEmbeddings: Bool
    public var attentionBias: Bool
    public var moe: MoE?
    /// The token id that stands for one image token in `input_ids`.
    public var imageTokenID: Int

    enum CodingKeys: String, CodingKey {
        case layers, heads, moe
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case kvHeads = "kv_heads"
        case headDim = "head_dim"
        case intermediateSize = "intermediate_size"
        case rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta"
        case tieWordEmbeddings = "tie_word_embeddings"
        case attentionBias = "attention_bias"
        case imageTokenID = "image_token_id"
    }

    public init(
        vocabSize: Int, hiddenSize: Int, layers: Int, heads: Int, kvHeads: Int, headDim: Int? = nil, intermediateSize: Int,
        rmsNormEps: Double, ropeTheta: Double, tieWordEmbeddings: Bool, attentionBias: Bool = false, moe: MoE? = nil,
        imageTokenID: Int
    ) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim ?? (heads > 0 ? hiddenSize / heads : 0)
        self.intermediateSize = intermediateSize
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.tieWordEmbeddings = tieWordEmbeddings
        self.attentionBias = attentionBias
        self.moe = moe
        self.imageTokenID = imageTokenID
    }

    /// Whether decoder layer `i` has a sparse FFN.
    public func isSparse(_ layer: Int) -> Bool { moe?.sparseLayers.contains(layer) ?? false }

    func check(_ c: inout ConfigChecker) {
        for (v, f) in [(vocabSize, "vocab_size"), (hiddenSize, "hidden_size"), (heads, "heads"),
                       (kvHeads, "kv_heads"), (headDim, "head_dim"), (intermediateSize, "intermediate_size")] { c.size(v, f) }
        c.count(layers, "layers")
        c.require(kvHeads <= 0 || heads % kvHeads == 0, "kv_heads", "\(heads) heads are not a multiple of \(kvHeads) key-value heads")
        c.require(headDim % 2 == 0, "head_dim", "RoPE rotates pairs, so head_dim must be even, is \(headDim)")
        c.require(rmsNormEps > 0, "rms_norm_eps", "must be positive, is \(rmsNormEps)")
        c.require(ropeTheta > 0, "rope_theta", "must be positive, is \(ropeTheta)")
        c.require(imageTokenID >= 0 && imageTokenID < vocabSize, "image_token_id", "\(imageTokenID) is outside the vocabulary (0..<\(vocabSize))")
        if let moe {
            c.count(moe.experts, "moe.experts")
            c.size(moe.expertIntermediateSize, "moe.expert_intermediate_size")
            c.require(moe.topK >= 1 && moe.topK <= moe.experts, "moe.top_k", "\(moe.topK) must be between 1 and \(moe.experts) experts")
            c.require(!moe.sparseLayers.isEmpty, "moe.sparse_layers", "names no layer")
            c.require(Set(moe.sparseLayers).count == moe.sparseLayers.count, "moe.sparse_layers", "lists a layer twice")
            for l in moe.sparseLayers where l < 0 || l >= layers {
                c.require(false, "moe.sparse_layers", "layer \(l) is outside 0..<\(layers)")
            }
        }
    }
}
