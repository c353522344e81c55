import Foundation

/// Reads a Hugging Face `config.json` of the LLaVA family (`vision_config` + `text_config`, v4 and
/// v5 spellings) or of Honeybee (`vision_config` + `projector_config` + `text_config`) into an
/// ``MM1Config``. Keys a file leaves out take the transformers class defaults (`save_pretrained`
/// writes only the values that differ from them).
public enum HFConfig {
    /// The configuration, and every assumption made where the file is silent.
    public struct Result: Sendable {
        public let config: MM1Config
        public let notes: [String]
    }

    /// Whether `json` looks like a config this reader understands.
    public static func recognizes(_ json: [String: Any]) -> Bool { json["vision_config"] is [String: Any] && json["text_config"] is [String: Any] }

    public static func read(_ data: Data, file: String) throws -> Result {
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigError(field: "", reason: "expected a JSON object", file: file)
        }
        return try read(json, file: file)
    }

    public static func read(_ json: [String: Any], file: String) throws -> Result {
        var notes: [String] = []
        let reader = Reader(file: file)
        guard let vision = json["vision_config"] as? [String: Any] else { throw ConfigError(field: "vision_config", reason: "is missing", file: file) }
        guard let text = json["text_config"] as? [String: Any] else { throw ConfigError(field: "text_config", reason: "is missing", file: file) }
        let projector = json["projector_config"] as? [String: Any]

        // Vision: transformers CLIPVisionConfig defaults.
        let act = try reader.string(vision, "hidden_act", "vision_config", default: "quick_gelu")
        guard let activation = VisionConfig.Activation(rawValue: act) else {
            throw ConfigError(field: "vision_config.hidden_act", reason: "\"\(act)\" is not quick_gelu or gelu", file: file)
        }
        let strategy = try reader.string(json, "vision_feature_select_strategy", "", default: "default")
        let featureLayer = projector != nil
            ? try reader.int(projector!, "feature_layer_index", "projector_config", default: -1)
            : try reader.int(json, "vision_feature_layer", "", default: -2)
        let visionConfig = VisionConfig(
            kind: .clip, imageSize: try reader.int(vision, "image_size", "vision_config", default: 224),
            patchSize: try reader.int(vision, "patch_size", "vision_config", default: 32),
            width: try reader.int(vision, "hidden_size", "vision_config", default: 768),
            depth: try reader.int(vision, "num_hidden_layers", "vision_config", default: 12),
            heads: try reader.int(vision, "num_attention_heads", "vision_config", default: 12),
            mlpSize: try reader.int(vision, "intermediate_size", "vision_config", default: 3072),
            normEps: try reader.double(vision, "layer_norm_eps", "vision_config", default: 1e-5), activation: activation,
            patchBias: false, featureLayer: featureLayer, dropClassToken: projector != nil || strategy == "default")

        // Decoder: LlamaConfig or MixtralConfig defaults.
        let isMixtral = (text["model_type"] as? String) == "mixtral" || text["num_local_experts"] != nil
        let heads = try reader.int(text, "num_attention_heads", "text_config", default: 32)
        let hidden = try reader.int(text, "hidden_size", "text_config", default: 4096)
        let layers = try reader.int(text, "num_hidden_layers", "text_config", default: 32)
        var theta = isMixtral ? 1e6 : 1e4
        if let parameters = text["rope_parameters"] as? [String: Any] {
            theta = try reader.double(parameters, "rope_theta", "text_config.rope_parameters", default: theta)
        } else {
            theta = try reader.double(text, "rope_theta", "text_config", default: theta)
        }
        let vocab = try reader.int(text, "vocab_size", "text_config", default: 32_000)
        var imageToken = json["image_token_index"] ?? json["image_token_id"]
        if imageToken == nil, projector == nil { imageToken = 32_000 }  // LlavaConfig's default
        let imageTokenID: Int
        if let id = imageToken {
            imageTokenID = try reader.int(["v": id], "v", "image_token_index", default: 0)
        } else {
            imageTokenID = vocab - 1
            notes.append("\(file) names no image token id; using the last vocabulary id \(vocab - 1) (pass a config with language.image_token_id to choose)")
        }
        let intermediate = try reader.int(text, "intermediate_size", "text_config", default: isMixtral ? 14_336 : 11_008)
        var moe: LanguageConfig.MoE?
        if isMixtral {
            moe = .init(experts: try reader.int(text, "num_local_experts", "text_config", default: 8),
                        topK: try reader.int(text, "num_experts_per_tok", "text_config", default: 2),
                        expertIntermediateSize: intermediate, sparseLayers: Array(0..<layers))
        }
        let language = LanguageConfig(
            vocabSize: vocab, hiddenSize: hidden, layers: layers, heads: heads,
            kvHeads: try reader.int(text, "num_key_value_heads", "text_config", default: isMixtral ? 8 : heads),
            headDim: try reader.int(text, "head_dim", "text_config", default: hidden / max(heads, 1)),
            intermediateSize: intermediate,
            rmsNormEps: try reader.double(text, "rms_norm_eps", "text_config", default: isMixtral ? 1e-5 : 1e-6),
            ropeTheta: theta,
            tieWordEmbeddings: try reader.bool(text, "tie_word_embeddings", "text_config", default: (json["tie_word_embeddings"] as? Bool) ?? false),
            attentionBias: try reader.bool(text, "attention_bias", "text_config", default: false), moe: moe, imageTokenID: imageTokenID)

        // Connector.
        let connector: ConnectorConfig
        if let projector {
            let type = try reader.string(projector, "projector_type", "projector_config", default: "c-abs")
            guard type == "c-abs" || type == "c_abstractor" else {
                throw ConfigError(field: "projector_config.projector_type", reason: "\"\(type)\" is not supported (only Honeybee's c-abs)", file: file)
            }
            let tokens = try projector["num_query_tokens"] != nil
                ? reader.int(projector, "num_query_tokens", "projector_config", default: 144)
                : reader.int(json, "num_query_tokens", "", default: 144)
            connector = .cAbstractor(.init(
                imageTokens: tokens, hiddenSize: try reader.int(projector, "hidden_size", "projector_config", default: 1024),
                depth: try reader.int(projector, "depth", "projector_config", default: 3),
                mlpDepth: try reader.int(projector, "mlp_depth", "projector_config", default: 2),
                positionEmbedding: try reader.bool(projector, "pos_emb", "projector_config", default: true)))
            if try reader.int(projector, "num_eos_tokens", "projector_config", default: 0) != 0 {
                throw ConfigError(field: "projector_config.num_eos_tokens", reason: "learned end-of-image tokens are not supported", file: file)
            }
            if try reader.bool(projector, "prenorm", "projector_config", default: false) {
                throw ConfigError(field: "projector_config.prenorm", reason: "a LayerNorm before the C-Abstractor is not supported", file: file)
            }
        } else {
            let act = try reader.string(json, "projector_hidden_act", "", default: "gelu")
            guard let activation = VisionConfig.Activation(rawValue: act) else {
                throw ConfigError(field: "projector_hidden_act", reason: "\"\(act)\" is not gelu or quick_gelu", file: file)
            }
            connector = .mlp(.init(activation: activation))
        }
        let config = MM1Config(vision: visionConfig, connector: connector, language: language)
        if var problem = config.problems().first {
            problem.file = file
            throw problem
        }
        return Result(config: config, notes: notes)
    }

    /// JSON `true`/`false` (Foundation bridges them to NSNumber, spelled "c" like a char).
    static func isBoolean(_ raw: Any) -> Bool {
        if type(of: raw) == Bool.self { return true }
        if let n = raw as? NSNumber { return String(cString: n.objCType) == "c" }
        return false
    }

    /// Typed access to JSON values with the field path in every error.
    struct Reader {
        let file: String
        func path(_ parent: String, _ key: String) -> String { parent.isEmpty ? key : "\(parent).\(key)" }
        func int(_ o: [String: Any], _ key: String, _ parent: String, default value: Int) throws -> Int {
            guard let raw = o[key], !(raw is NSNull) else { return value }
            if !HFConfig.isBoolean(raw), let n = raw as? NSNumber, let i = Int(exactly: n.doubleValue) { return i }
            throw ConfigError(field: path(parent, key), reason: "expected an integer, found \(raw)", file: file)
        }
        func double(_ o: [String: Any], _ key: String, _ parent: String, default value: Double) throws -> Double {
            guard let raw = o[key], !(raw is NSNull) else { return value }
            if !HFConfig.isBoolean(raw), let n = raw as? NSNumber { return n.doubleValue }
            throw ConfigError(field: path(parent, key), reason: "expected a number, found \(raw)", file: file)
        }
        func bool(_ o: [String: Any], _ key: String, _ parent: String, default value: Bool) throws -> Bool {
            guard let raw = o[key], !(raw is NSNull) else { return value }
            if HFConfig.isBoolean(raw), let b = raw as? Bool { return b }
            throw ConfigError(field: path(parent, key), reason: "expected true or false, found \(raw)", file: file)
        }
        func string(_ o: [String: Any], _ key: String, _ parent: String, default value: String) throws -> String {
            guard let raw = o[key], !(raw is NSNull) else { return value }
            if let s = raw as? String { return s }
            throw ConfigError(field: path(parent, key), reason: "expected a string, found \(raw)", file: file)
        }
    }
}
