import Foundation

/// A whole MM1-family model: image encoder, connector and decoder. Encoded as JSON with the keys
/// of `Schemas/mm1-config.schema.json`.
///
/// ```swift
/// let config = try MM1Config.decode(from: data)      // decodes and checks every field
/// let tiny = Preset.preset(.tinyDense).config   // a small named configuration
/// ```
public struct MM1Config: Codable, Sendable, Equatable {
    public var vision: VisionConfig
    public var connector: ConnectorConfig
    public var language: LanguageConfig

    public init(vision: VisionConfig, connector: ConnectorConfig, language: LanguageConfig) {
        self.vision = vision
        self.connector = connector
        self.language = language
    }

    /// Image tokens per image, as the decoder sees them.
    public var imageTokens: Int { connector.imageTokens(featureTokens: vision.featureTokens) }

    /// Every problem with the configuration, each naming its field (empty when it is usable).
    public func problems() -> [ConfigError] {
        var v = ConfigChecker(prefix: "vision.")
        vision.check(&v)
        var c = ConfigChecker(prefix: "connector.")
        connector.check(&c, vision: vision)
        var l = ConfigChecker(prefix: "language.")
        language.check(&l)
        return v.errors + c.errors + l.errors
    }

    /// Throws the first problem (all of them are in ``problems()``).
    public func validate() throws(ConfigError) {
        if let first = problems().first { throw first }
    }

    /// Decodes and validates a configuration. Decoding errors name the key path.
    public static func decode(from data: Data, file: String? = nil) throws -> MM1Config {
        let config: MM1Config
        do {
            config = try JSONDecoder().decode(MM1Config.self, from: data)
        } catch let error as DecodingError {
            throw ConfigError(decoding: error, file: file)
        }
        if var first = config.problems().first {
            first.file = file
            throw first
        }
        return config
    }

    /// The configuration as stable, sorted, pretty JSON.
    public func jsonData() throws -> Data { try StableJSON.encode(self) }
}

extension MM1Config: CustomStringConvertible {
    /// One line for printing: encoder, resolution, connector and image tokens, decoder shape, experts.
    ///
    /// `CLIP encoder 2 layers × 32, 84 px / 14 → C-Abstractor, 16 image tokens → decoder 4 layers × 64,
    /// 4 heads (2 KV), vocab 256, dense`
    public var description: String {
        let v = vision, l = language
        let connectorName = switch connector {
        case .averagePool: "average pool"
        case .attentionPool: "attention pool"
        case .cAbstractor: "C-Abstractor"
        case .mlp: "MLP projector"
        }
        let experts = l.moe.map { "\($0.experts) experts top-\($0.topK) in \($0.sparseLayers.count) of \(l.layers) layers" } ?? "dense"
        return "\(v.kind.rawValue.uppercased()) encoder \(v.depth) layers × \(v.width), \(v.imageSize) px / \(v.patchSize)"
            + " → \(connectorName), \(imageTokens) image tokens"
            + " → decoder \(l.layers) layers × \(l.hiddenSize), \(l.heads) heads (\(l.kvHeads) KV), vocab \(l.vocabSize), \(experts)"
    }
}

extension ConfigError {
    /// Turns a `DecodingError` into a message with the failing key path, e.g.
    /// "language.kv_heads: expected Int, found a string".
    public init(decoding error: DecodingError, file: String?) {
        func path(_ context: DecodingError.Context, _ key: CodingKey? = nil) -> String {
            let keys = context.codingPath + (key.map { [$0] } ?? [])
            let text = keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return text.replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context): self.init(field: path(context, key), reason: "is missing", file: file)
        case .typeMismatch(let type, let context): self.init(field: path(context), reason: "expected \(type): \(context.debugDescription)", file: file)
        case .valueNotFound(let type, let context): self.init(field: path(context), reason: "expected \(type), found null", file: file)
        case .dataCorrupted(let context): self.init(field: path(context), reason: context.debugDescription, file: file)
        @unknown default: self.init(field: "", reason: "\(error)", file: file)
        }
    }
}
