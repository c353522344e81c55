/// Named configurations: the published MM1 models (with every value the paper does not publish
/// marked as such) and tiny models for tests.
public struct Preset: Sendable {
    public enum Name: String, Sendable, CaseIterable {
        case tinyDense = "tiny-dense"
        case tinyMoE = "tiny-moe"
        case mm1_3B = "mm1-3b"
        case mm1_7B = "mm1-7b"
        case mm1_30B = "mm1-30b"
        case mm1_3B_MoE64 = "mm1-3b-moe-64"
        case mm1_7B_MoE32 = "mm1-7b-moe-32"
    }

    public let name: Name
    public let config: MM1Config
    /// Fields whose value is not published, each with where the stand-in value comes from.
    public let unpublished: [String: String]

    /// The preset called `name` (e.g. `"mm1-3b"`), or `nil`.
    public static func named(_ name: String) -> Preset? { Name(rawValue: name).map(preset) }

    /// The preset for `name`.
    public static func preset(_ name: Name) -> Preset {
        switch name {
        case .tinyDense: Preset(name: name, config: tiny(moe: nil), unpublished: [:])
        case .tinyMoE:
            Preset(name: name, config: tiny(moe: .init(experts: 4, topK: 2, expertIntermediateSize: 128, sparseLayers: [1, 3])), unpublished: [:])
        case .mm1_3B: mm1(name, dense: fuji3B, moe: nil)
        case .mm1_7B: mm1(name, dense: fuji7B, moe: nil)
        case .mm1_30B: mm1(name, dense: llama30B, moe: nil)
        case .mm1_3B_MoE64:
            mm1(name, dense: fuji3B, moe: .init(experts: 64, topK: 2, expertIntermediateSize: fuji3B.intermediateSize,
                                                sparseLayers: Array(stride(from: 1, to: fuji3B.layers, by: 2))))
        case .mm1_7B_MoE32:
            mm1(name, dense: fuji7B, moe: .init(experts: 32, topK: 2, expertIntermediateSize: fuji7B.intermediateSize,
                                                sparseLayers: Array(stride(from: 3, to: fuji7B.layers, by: 4))))
        }
    }

    /// TinyMM1 of the architecture notes: CLIP 84 px / 14 → 6×6 patches, C-Abstractor to 4×4, a 4-layer decoder.
    static func tiny(moe: LanguageConfig.MoE?) -> MM1Config {
        MM1Config(
            vision: VisionConfig(kind: .clip, imageSize: 84, patchSize: 14, width: 32, depth: 2, heads: 4, mlpSize: 128,
                                 normEps: 1e-5, activation: .quickGELU, patchBias: false, featureLayer: -1, dropClassToken: true),
            connector: .cAbstractor(.init(imageTokens: 16, hiddenSize: 48, depth: 2)),
            language: LanguageConfig(vocabSize: 256, hiddenSize: 64, layers: 4, heads: 4, kvHeads: 2, intermediateSize: 128,
                                     rmsNormEps: 1e-5, ropeTheta: 10_000, tieWordEmbeddings: false, moe: moe, imageTokenID: 255))
    }

    // Decoder shapes MM1 does not publish. Stand-ins: AXLearn Fuji (Apple's public LLaMA-style
    // configs) for 3B and 7B, LLaMA-30B for 30B.
    static let fuji3B = LanguageConfig(vocabSize: 128_256, hiddenSize: 3072, layers: 28, heads: 24, kvHeads: 8,
                                       intermediateSize: 8192, rmsNormEps: 1e-5, ropeTheta: 500_000, tieWordEmbeddings: true,
                                       imageTokenID: 128_255)
    static let fuji7B = LanguageConfig(vocabSize: 32_768, hiddenSize: 4096, layers: 32, heads: 32, kvHeads: 32,
                                       intermediateSize: 11_008, rmsNormEps: 1e-5, ropeTheta: 10_000, tieWordEmbeddings: false,
                                       imageTokenID: 32_767)
    static let llama30B = LanguageConfig(vocabSize: 32_000, hiddenSize: 6656, layers: 60, heads: 52, kvHeads: 52,
                                         intermediateSize: 17_920, rmsNormEps: 1e-6, ropeTheta: 10_000, tieWordEmbeddings: false,
                                         imageTokenID: 31_999)

    /// MM1's published recipe: CLIP ViT-H/14 at 378 px (DFN-5B), C-Abstractor with 144 tokens.
    static func mm1(_ name: Name, dense: LanguageConfig, moe: LanguageConfig.MoE?) -> Preset {
        var language = dense
        language.moe = moe
        let source = dense == fuji3B ? "AXLearn Fuji 3B (v3)" : dense == fuji7B ? "AXLearn Fuji 7B (v1/v2)" : "LLaMA-30B"
        var unpublished: [String: String] = [
            "vision.feature_layer": "not published; -1 as Honeybee taps the last layer",
            "vision.drop_class_token": "not published; dropped as Honeybee and LLaVA do",
            "connector.hidden_size": "not published; 1024 as Honeybee's C-Abstractor",
            "connector.depth": "not published; 3 as Honeybee's c-abs.yaml",
            "connector.mlp_depth": "not published; 2 as Honeybee's c-abs.yaml",
            "connector.pooling": "not published; torch_adaptive (27×27 → 12×12 windows overlap)",
        ]
        for field in ["vocab_size", "hidden_size", "layers", "heads", "kv_heads", "intermediate_size", "rms_norm_eps",
                      "rope_theta", "tie_word_embeddings", "image_token_id"] {
            unpublished["language.\(field)"] = "not published; \(source) used as a stand-in"
        }
        if moe != nil {
            unpublished["language.moe.expert_intermediate_size"] = "not published; the dense FFN width"
            unpublished["language.moe.sparse_layers"] = "recalled, not verified: every \(name == .mm1_3B_MoE64 ? "2nd" : "4th") layer"
            unpublished["language.moe.normalize_top_k"] = "not published; renormalised as GShard/Mixtral"
        }
        let config = MM1Config(
            vision: VisionConfig(kind: .clip, imageSize: 378, patchSize: 14, width: 1280, depth: 32, heads: 16, mlpSize: 5120,
                                 normEps: 1e-5, activation: .quickGELU, patchBias: false, featureLayer: -1, dropClassToken: true),
            connector: .cAbstractor(.init(imageTokens: 144, hiddenSize: 1024, depth: 3)),
            language: language)
        return Preset(name: name, config: config, unpublished: unpublished)
    }
}
