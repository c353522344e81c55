/// The vision-language connector: how patch features become the decoder's image tokens.
///
/// Its input width is the encoder's, its output width the decoder's hidden size; neither is stored
/// here, so they cannot disagree with the other parts.
public enum ConnectorConfig: Sendable, Equatable, Codable {
    /// Adaptive average pooling of the patch grid to n×n, then a linear projection (MM1 "average pooling").
    case averagePool(AveragePool)
    /// k learnable queries cross-attending to the patch tokens, then a projection (open_clip `AttentionalPooler` form).
    case attentionPool(AttentionPool)
    /// Honeybee's C-Abstractor: positions, RegNet stage, adaptive pool to √k×√k, RegNet stage, MLP readout.
    case cAbstractor(CAbstractor)
    /// LLaVA's two-layer projector (Linear, GELU, Linear); keeps every token.
    case mlp(MLPProjector)

    /// How windows of an uneven adaptive pool are placed.
    public enum Pooling: String, Codable, Sendable, CaseIterable {
        /// `torch.nn.AdaptiveAvgPool2d`: window i covers floor(i·G/q) ..< ceil((i+1)·G/q).
        case torchAdaptive = "torch_adaptive"
        /// Fixed stride G/q (floored) and kernel G − (q−1)·stride, as some MM1-era code pools.
        case strideKernel = "stride_kernel"
    }

    public struct AveragePool: Codable, Sendable, Equatable {
        public var imageTokens: Int
        public var pooling: Pooling
        enum CodingKeys: String, CodingKey {
            case pooling
            case imageTokens = "image_tokens"
        }
        public init(imageTokens: Int, pooling: Pooling = .torchAdaptive) {
            self.imageTokens = imageTokens
            self.pooling = pooling
        }
    }

    public struct AttentionPool: Codable, Sendable, Equatable {
        public var imageTokens: Int
        /// Width of the queries and the attention (`d_q`).
        public var hiddenSize: Int
        public var heads: Int
        public var normEps: Double
        enum CodingKeys: String, CodingKey {
            case heads
            case imageTokens = "image_tokens"
            case hiddenSize = "hidden_size"
            case normEps = "norm_eps"
        }
        public init(imageTokens: Int, hiddenSize: Int, heads: Int, normEps: Double = 1e-5) {
            self.imageTokens = imageTokens
            self.hiddenSize = hiddenSize
            self.heads = heads
            self.normEps = normEps
        }
    }

    public struct CAbstractor: Codable, Sendable, Equatable {
        public var imageTokens: Int
        public var hiddenSize: Int
        /// RegNet bottleneck blocks per stage (0: pooling only).
        public var depth: Int
        /// Linear layers of the readout (SiLU between them).
        public var mlpDepth: Int
        public var positionEmbedding: Bool
        public var normEps: Double
        public var pooling: Pooling
        enum CodingKeys: String, CodingKey {
            case depth, pooling
            case imageTokens = "image_tokens"
            case hiddenSize = "hidden_size"
            case mlpDepth = "mlp_depth"
            case positionEmbedding = "position_embedding"
            case normEps = "norm_eps"
        }
        public init(imageTokens: Int, hiddenSize: Int, depth: Int, mlpDepth: Int = 2, positionEmbedding: Bool = true,
                    normEps: Double = 1e-5, pooling: Pooling = .torchAdaptive) {
            self.imageTokens = imageTokens
            self.hiddenSize = hiddenSize
            self.depth = depth
            self.mlpDepth = mlpDepth
            self.positionEmbedding = positionEmbedding
            self.normEps = normEps
            self.pooling = pooling
        }
    }

    public struct MLPProjector: Codable, Sendable, Equatable {
        public var activation: VisionConfig.Activation
        public init(activation: VisionConfig.Activation = .gelu) { self.activation = activation }
    }

    /// The kind as spelled in JSON.
    public var kind: String {
        switch self {
        case .averagePool: "average_pool"
        case .attentionPool: "attention_pool"
        case .cAbstractor: "c_abstractor"
        case .mlp: "mlp"
        }
    }

    /// Image tokens the decoder receives, given what the encoder passes on.
    public func imageTokens(featureTokens: Int) -> Int {
        switch self {
        case .averagePool(let c): c.imageTokens
        case .attentionPool(let c): c.imageTokens
        case .cAbstractor(let c): c.imageTokens
        case .mlp: featureTokens
        }
    }

    enum KindKey: String, CodingKey { case kind }

    public init(from decoder: any Decoder) throws {
        let kind = try decoder.container(keyedBy: KindKey.self).decode(String.self, forKey: .kind)
        switch kind {
        case "average_pool": self = .averagePool(try AveragePool(from: decoder))
        case "attention_pool": self = .attentionPool(try AttentionPool(from: decoder))
        case "c_abstractor": self = .cAbstractor(try CAbstractor(from: decoder))
        case "mlp": self = .mlp(try MLPProjector(from: decoder))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: try decoder.container(keyedBy: KindKey.self),
                debugDescription: "unknown connector kind \"\(kind)\" (expected average_pool, attention_pool, c_abstractor or mlp)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: KindKey.self)
        try container.encode(kind, forKey: .kind)
        switch self {
        case .averagePool(let c): try c.encode(to: encoder)
        case .attentionPool(let c): try c.encode(to: encoder)
        case .cAbstractor(let c): try c.encode(to: encoder)
        case .mlp(let c): try c.encode(to: encoder)
        }
    }

    func check(_ c: inout ConfigChecker, vision: VisionConfig) {
        let patchesOnly = !vision.hasClassToken || vision.dropClassToken
        func square(_ tokens: Int) {
            guard c.size(tokens, "image_tokens") else { return }  // √ of a negative is NaN: no Int
            let side = Int(Double(tokens).squareRoot().rounded())
            c.require(side * side == tokens, "image_tokens", "\(tokens) is not a square number of tokens")
            c.require(side <= vision.grid, "image_tokens", "\(side)×\(side) is larger than the \(vision.grid)×\(vision.grid) patch grid")
            c.require(patchesOnly, "image_tokens", "pooling needs patch tokens only: set vision.drop_class_token")
        }
        switch self {
        case .averagePool(let a): square(a.imageTokens)
        case .cAbstractor(let a):
            square(a.imageTokens)
            c.size(a.hiddenSize, "hidden_size")
            c.require(a.depth >= 0 && a.depth <= ConfigChecker.countLimit, "depth", "must be between 0 and \(ConfigChecker.countLimit), is \(a.depth)")
            c.count(a.mlpDepth, "mlp_depth")
            c.require(a.normEps > 0, "norm_eps", "must be positive, is \(a.normEps)")
        case .attentionPool(let a):
            c.size(a.imageTokens, "image_tokens")
            c.size(a.hiddenSize, "hidden_size")
            c.size(a.heads, "heads")
            c.require(a.heads <= 0 || a.hiddenSize % a.heads == 0, "heads", "hidden_size \(a.hiddenSize) is not divisible by \(a.heads) heads")
        case .mlp: break
        }
    }
}
