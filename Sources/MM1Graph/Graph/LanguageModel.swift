/// The LLaMA-style decoder with optional mixture-of-experts layers.
public struct LanguageModel<P> {
    public enum FeedForward {
        /// SwiGLU: `down(silu(gate x) ⊙ up x)`; gate/up `[I, H]`, down `[H, I]`.
        case dense(gate: P, up: P, down: P)
        /// Router `[E, H]`; experts stacked: gate/up `[E, I, H]`, down `[E, H, I]`.
        case sparse(router: P, gate: P, up: P, down: P)
    }

    public struct Layer {
        public let attentionNorm: P
        public let attention: Attention<P>
        public let mlpNorm: P
        public let feedForward: FeedForward
    }

    /// `[vocab, H]`.
    public let embedTokens: P
    public let layers: [Layer]
    public let norm: P
    /// `[vocab, H]`; `nil` when tied to ``embedTokens``.
    public let lmHead: P?

    init(_ config: LanguageConfig, _ b: inout ParameterBuilder<P>) throws {
        let h = config.hiddenSize
        embedTokens = try b.parameter("embed_tokens.weight", [config.vocabSize, h], .tokenEmbedding)
        layers = try b.scope("layers") { b in
            try (0..<config.layers).map { i in
                try b.scope(String(i)) { b in
                    let attentionNorm = try b.parameter("attention_norm.weight", [h], .normWeight)
                    let attention = try Attention(&b, hidden: h, queryWidth: config.heads * config.headDim,
                                                  keyValueWidth: config.kvHeads * config.headDim, bias: config.attentionBias)
                    let mlpNorm = try b.parameter("mlp_norm.weight", [h], .normWeight)
                    let ffn: FeedForward
                    if let moe = config.moe, config.isSparse(i) {
                        let e = moe.experts, n = moe.expertIntermediateSize
                        ffn = try b.scope("moe") { b in
                            .sparse(router: try b.parameter("router.weight", [e, h], .routerWeight),
                                    gate: try b.parameter("experts.gate", [e, n, h], .expertWeight),
                                    up: try b.parameter("experts.up", [e, n, h], .expertWeight),
                                    down: try b.parameter("experts.down", [e, h, n], .expertWeight))
                        }
                    } else {
                        let n = config.intermediateSize
                        ffn = try b.scope("mlp") { b in
                            .dense(gate: try b.parameter("gate.weight", [n, h], .linearWeight),
                                   up: try b.parameter("up.weight", [n, h], .linearWeight),
                                   down: try b.parameter("down.weight", [h, n], .linearWeight))
                        }
                    }
                    return Layer(attentionNorm: attentionNorm, attention: attention, mlpNorm: mlpNorm, feedForward: ffn)
                }
            }
        }
        norm = try b.parameter("norm.weight", [h], .normWeight)
        lmHead = config.tieWordEmbeddings ? nil : try b.parameter("lm_head.weight", [config.vocabSize, h], .outputHead)
    }
}
