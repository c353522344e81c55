/// The vision-language connector, one case per kind of ``ConnectorConfig``.
public enum Connector<P> {
    case averagePool(projection: Linear<P>)
    case attentionPool(AttentionPool)
    case cAbstractor(CAbstractor<P>)
    case mlp(fc1: Linear<P>, fc2: Linear<P>)

    /// k learnable queries attending to the patch tokens (open_clip `AttentionalPooler`), then a projection.
    public struct AttentionPool {
        /// `[k, hidden]`.
        public let queries: P
        public let queryNorm: Norm<P>
        public let keyValueNorm: Norm<P>
        public let attention: Attention<P>
        public let projection: Linear<P>
    }

    init(_ config: ConnectorConfig, inputWidth c: Int, outputWidth d: Int, grid: Int, _ b: inout ParameterBuilder<P>) throws {
        switch config {
        case .averagePool:
            self = .averagePool(projection: try Linear(&b, "proj", out: d, in: c, bias: true))
        case .mlp:
            self = .mlp(fc1: try Linear(&b, "fc1", out: d, in: c, bias: true), fc2: try Linear(&b, "fc2", out: d, in: d, bias: true))
        case .attentionPool(let a):
            let h = a.hiddenSize
            self = .attentionPool(AttentionPool(
                queries: try b.parameter("queries", [a.imageTokens, h], .learnedQueries),
                queryNorm: try Norm(&b, "norm_q", width: h),
                keyValueNorm: try Norm(&b, "norm_kv", width: c),
                attention: try Attention(&b, hidden: h, queryWidth: h, keyValueWidth: h, keyInputWidth: c, bias: true),
                projection: try Linear(&b, "proj", out: d, in: h, bias: true)))
        case .cAbstractor(let a):
            self = .cAbstractor(try CAbstractor(a, inputWidth: c, outputWidth: d, grid: grid, &b))
        }
    }
}

/// Honeybee's C-Abstractor: `x + pos → RegStage(C→H) → adaptive pool → RegStage(H→H) → MLP readout`.
/// Stages are timm RegNet bottlenecks (1×1 conv, depthwise 3×3, squeeze-excitation, 1×1 conv), each
/// convolution followed by a LayerNorm over channels (timm calls it `bn`: never fold it as BatchNorm).
public struct CAbstractor<P> {
    public struct Block {
        /// `[H, C_in, 1, 1]`.
        public let conv1: P
        public let norm1: Norm<P>
        /// Depthwise `[H, 1, 3, 3]`.
        public let conv2: P
        public let norm2: Norm<P>
        /// Squeeze-excitation 1×1 convolutions with bias: fc1 `[r, H, 1, 1]`, fc2 `[H, r, 1, 1]`,
        /// r = round(0.25 · C_in) — from the block's *input* width.
        public let seReduce: P
        public let seReduceBias: P
        public let seExpand: P
        public let seExpandBias: P
        /// `[H, H, 1, 1]`.
        public let conv3: P
        public let norm3: Norm<P>
        /// Only when C_in ≠ H: `[H, C_in, 1, 1]` and its norm.
        public let downsample: (conv: P, norm: Norm<P>)?
    }

    /// `[patches, C]` (Honeybee stores `[1, patches, C]`).
    public let positionEmbedding: P?
    public let stage1: [Block]
    public let stage2: [Block]
    /// Linear layers with SiLU between them; the first reads H (or C when depth is 0).
    public let readout: [Linear<P>]

    /// Squeeze-excitation width, rounded as Python's `round` does (half to even).
    public static func squeezeWidth(_ inputWidth: Int) -> Int { Int((Double(inputWidth) * 0.25).rounded(.toNearestOrEven)) }

    init(_ a: ConnectorConfig.CAbstractor, inputWidth c: Int, outputWidth d: Int, grid: Int, _ b: inout ParameterBuilder<P>) throws {
        let h = a.hiddenSize
        positionEmbedding = a.positionEmbedding ? try b.parameter("position_embedding", [grid * grid, c], .positionEmbedding) : nil
        func stage(_ index: Int, from input: Int, _ b: inout ParameterBuilder<P>) throws -> [Block] {
            try b.scope("stages") { b in
                try b.scope(String(index)) { b in
                    try (0..<a.depth).map { j in
                        let cin = j == 0 ? input : h
                        let r = Self.squeezeWidth(cin)
                        return try b.scope("blocks") { b in
                            try b.scope(String(j)) { b in
                                Block(
                                    conv1: try b.parameter("conv1.weight", [h, cin, 1, 1], .convolutionWeight),
                                    norm1: try Norm(&b, "norm1", width: h),
                                    conv2: try b.parameter("conv2.weight", [h, 1, 3, 3], .convolutionWeight),
                                    norm2: try Norm(&b, "norm2", width: h),
                                    seReduce: try b.parameter("se.fc1.weight", [r, h, 1, 1], .convolutionWeight),
                                    seReduceBias: try b.parameter("se.fc1.bias", [r], .bias),
                                    seExpand: try b.parameter("se.fc2.weight", [h, r, 1, 1], .convolutionWeight),
                                    seExpandBias: try b.parameter("se.fc2.bias", [h], .bias),
                                    conv3: try b.parameter("conv3.weight", [h, h, 1, 1], .convolutionWeight),
                                    norm3: try Norm(&b, "norm3", width: h),
                                    downsample: cin == h ? nil : (try b.parameter("downsample.conv.weight", [h, cin, 1, 1], .convolutionWeight),
                                                                  try Norm(&b, "downsample.norm", width: h)))
                            }
                        }
                    }
                }
            }
        }
        stage1 = try stage(0, from: c, &b)
        stage2 = try stage(1, from: h, &b)
        let first = a.depth > 0 ? h : c
        readout = try b.scope("readout") { b in
            try (0..<a.mlpDepth).map { k in try Linear(&b, String(k), out: d, in: k == 0 ? first : d, bias: true) }
        }
    }
}
