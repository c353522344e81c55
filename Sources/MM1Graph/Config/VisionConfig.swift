/// The image encoder: a ViT in the CLIP style (class token, learned positions, biases) or the AIM style
/// (no class token, fixed sin-cos positions, LayerNorm after patchify, no biases).
public struct VisionConfig: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case clip
        case aim
    }

    /// The MLP activation; it cannot be read from weight shapes (OpenAI/DFN CLIP use quick_gelu, LAION gelu).
    public enum Activation: String, Codable, Sendable, CaseIterable {
        case quickGELU = "quick_gelu"
        case gelu
    }

    public var kind: Kind
    public var imageSize: Int
    public var patchSize: Int
    public var width: Int
    public var depth: Int
    public var heads: Int
    public var mlpSize: Int
    public var normEps: Double
    public var activation: Activation
    /// Whether the patch convolution has a bias (CLIP: no; AIM: yes).
    public var patchBias: Bool
    /// Which hidden state feeds the connector: like HF `hidden_states[i]`; -1 is the last layer's
    /// output, -2 the one before (LLaVA), 0 the embeddings after the pre-norm.
    public var featureLayer: Int
    /// Whether the class token is dropped before the connector (CLIP only; AIM has none).
    public var dropClassToken: Bool

    enum CodingKeys: String, CodingKey {
        case kind, depth, heads, activation
        case imageSize = "image_size"
        case patchSize = "patch_size"
        case width = "hidden_size"
        case mlpSize = "intermediate_size"
        case normEps = "norm_eps"
        case patchBias = "patch_bias"
        case featureLayer = "feature_layer"
        case dropClassToken = "drop_class_token"
    }

    public init(
        kind: Kind, imageSize: Int, patchSize: Int, width: Int, depth: Int, heads: Int, mlpSize: Int,
        normEps: Double, activation: Activation, patchBias: Bool, featureLayer: Int, dropClassToken: Bool
    ) {
        self.kind = kind
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.width = width
        self.depth = depth
        self.heads = heads
        self.mlpSize = mlpSize
        self.normEps = normEps
        self.activation = activation
        self.patchBias = patchBias
        self.featureLayer = featureLayer
        self.dropClassToken = dropClassToken
    }

    /// Patches per side.
    public var grid: Int { patchSize > 0 ? imageSize / patchSize : 0 }
    /// Patch tokens (saturating: an unchecked config may hold any sizes).
    public var patchCount: Int {
        let (count, overflow) = grid.multipliedReportingOverflow(by: grid)
        return overflow ? .max : count
    }
    /// Whether the encoder has a class token.
    public var hasClassToken: Bool { kind == .clip }
    /// Tokens that reach the connector.
    public var featureTokens: Int { patchCount + (hasClassToken && !dropClassToken ? 1 : 0) }
    /// Which encoder layer's output is tapped, as a count of layers run (0 = embeddings only).
    public var featureDepth: Int { featureLayer < 0 ? depth + 1 + featureLayer : featureLayer }

    func check(_ c: inout ConfigChecker) {
        let sized = [(imageSize, "image_size"), (patchSize, "patch_size"), (width, "hidden_size"),
                     (heads, "heads"), (mlpSize, "intermediate_size")].map { c.size($0, $1) } + [c.count(depth, "depth")]
        // The rest does arithmetic on the sizes: only once they are in range.
        guard sized.allSatisfy({ $0 }), featureLayer.magnitude <= UInt(ConfigChecker.sizeLimit) else {
            c.require(featureLayer.magnitude <= UInt(ConfigChecker.sizeLimit), "feature_layer", "\(featureLayer) is out of range")
            return
        }
        c.require(patchSize <= 0 || imageSize % patchSize == 0, "image_size", "\(imageSize) is not a multiple of patch_size \(patchSize)")
        c.require(heads <= 0 || width % heads == 0, "heads", "hidden_size \(width) is not divisible by \(heads) heads")
        c.require(normEps > 0, "norm_eps", "must be positive, is \(normEps)")
        c.require(featureLayer >= -(depth + 1) && featureLayer <= depth, "feature_layer",
                  "\(featureLayer) is outside -\(depth + 1)…\(depth) for \(depth) layers")
        c.require(kind == .clip || !dropClassToken, "drop_class_token", "an AIM encoder has no class token to drop")
        c.require(kind != .aim || width % 4 == 0, "hidden_size", "AIM's 2-D sin-cos positions need a multiple of 4, is \(width)")
    }
}
