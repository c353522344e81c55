/// The ViT image encoder. CLIP style: patch convolution without bias, class token, learned positions,
/// pre-norm. AIM style: patch convolution with bias and a LayerNorm after it, fixed sin-cos
/// positions (no parameter), no class token, no biases in attention or MLP.
public struct VisionEncoder<P> {
    public struct Layer {
        public let norm1: Norm<P>
        public let attention: Attention<P>
        public let norm2: Norm<P>
        /// fc1 `[mlp, width]`, fc2 `[width, mlp]`.
        public let fc1: Linear<P>
        public let fc2: Linear<P>
    }

    /// `[width, 3, patch, patch]`.
    public let patchEmbedding: P
    public let patchBias: P?
    /// AIM: LayerNorm after the patch convolution.
    public let patchNorm: Norm<P>?
    /// CLIP: `[width]`.
    public let classToken: P?
    /// CLIP: `[patches + 1, width]`.
    public let positionEmbedding: P?
    /// CLIP: LayerNorm before the first layer (HF `pre_layrnorm`).
    public let preNorm: Norm<P>?
    public let layers: [Layer]
    /// CLIP `post_layernorm` / AIM `post_trunk_norm` (present in checkpoints; not on the connector's path).
    public let postNorm: Norm<P>

    init(_ config: VisionConfig, _ b: inout ParameterBuilder<P>) throws {
        let d = config.width, p = config.patchSize
        let clip = config.kind == .clip
        (patchEmbedding, patchBias) = try b.scope("patch_embed") { b in
            (try b.parameter("weight", [d, 3, p, p], .convolutionWeight), config.patchBias ? try b.parameter("bias", [d], .bias) : nil)
        }
        patchNorm = clip ? nil : try Norm(&b, "patch_norm", width: d)
        classToken = clip ? try b.parameter("class_token", [d], .classToken) : nil
        positionEmbedding = clip ? try b.parameter("position_embedding", [config.patchCount + 1, d], .positionEmbedding) : nil
        preNorm = clip ? try Norm(&b, "pre_norm", width: d) : nil
        layers = try b.scope("layers") { b in
            try (0..<config.depth).map { i in
                try b.scope(String(i)) { b in
                    Layer(norm1: try Norm(&b, "norm1", width: d),
                          attention: try Attention(&b, hidden: d, queryWidth: d, keyValueWidth: d, bias: clip),
                          norm2: try Norm(&b, "norm2", width: d),
                          fc1: try b.scope("mlp") { b in try Linear(&b, "fc1", out: config.mlpSize, in: d, bias: clip) },
                          fc2: try b.scope("mlp") { b in try Linear(&b, "fc2", out: d, in: config.mlpSize, bias: clip) })
                }
            }
        }
        postNorm = try Norm(&b, "post_norm", width: d)
    }
}
