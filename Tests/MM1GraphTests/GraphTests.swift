import Foundation
import MM1Graph
import MM1Tensor
import Testing

@Suite struct GraphTests {
    static func shapes(_ config: MM1Config) throws -> [String: [Int]] {
        Dictionary(uniqueKeysWithValues: try MM1Model(graphOf: config).specs.map { ($0.name, $0.shape.dimensions) })
    }

    @Test("TinyMM1 vision parameters have the shapes of HF CLIPVisionModel (architecture notes §2.2)")
    func tinyVision() throws {
        let s = try Self.shapes(Preset.preset(.tinyDense).config)
        #expect(s["vision.patch_embed.weight"] == [32, 3, 14, 14])
        #expect(s["vision.patch_embed.bias"] == nil, "CLIP's patch convolution has no bias")
        #expect(s["vision.class_token"] == [32])
        #expect(s["vision.position_embedding"] == [37, 32])
        #expect(s["vision.layers.1.attention.k.bias"] == [32])
        #expect(s["vision.layers.0.mlp.fc1.weight"] == [128, 32])
        #expect(s["vision.layers.0.mlp.fc2.weight"] == [32, 128])
        #expect(s["vision.post_norm.bias"] == [32])
        #expect(s.keys.filter { $0.hasPrefix("vision.") }.count == 3 + 2 + 2 + 2 * 16, "embeddings 3, pre-norm 2, post-norm 2, 16 per layer")
    }

    @Test("TinyMM1 C-Abstractor parameters match Honeybee's (architecture notes §3.1)")
    func tinyCAbstractor() throws {
        let s = try Self.shapes(Preset.preset(.tinyDense).config)
        #expect(s["connector.position_embedding"] == [36, 32])
        #expect(s["connector.stages.0.blocks.0.conv1.weight"] == [48, 32, 1, 1])
        #expect(s["connector.stages.0.blocks.0.conv2.weight"] == [48, 1, 3, 3])
        #expect(s["connector.stages.0.blocks.0.se.fc1.weight"] == [8, 48, 1, 1], "SE width from the block input (32)")
        #expect(s["connector.stages.0.blocks.1.se.fc1.weight"] == [12, 48, 1, 1])
        #expect(s["connector.stages.0.blocks.0.downsample.conv.weight"] == [48, 32, 1, 1])
        #expect(s["connector.stages.0.blocks.1.downsample.conv.weight"] == nil)
        #expect(s["connector.stages.1.blocks.0.downsample.conv.weight"] == nil)
        #expect(s["connector.readout.0.weight"] == [64, 48])
        #expect(s["connector.readout.1.weight"] == [64, 64])
    }

    @Test("connector parameter counts equal those of the real modules (Honeybee-C-7B-M144 and an MM1-like ViT-H one)")
    func realConnectorCounts() throws {
        func count(vision width: Int, grid: Int, language: Int) throws -> Int {
            var config = Preset.preset(.mm1_7B).config
            config.vision.width = width
            config.vision.heads = 16
            config.vision.imageSize = grid * 14
            config.language.hiddenSize = language
            return try MM1Model(graphOf: config).specs.filter { $0.component == .connector }.reduce(0) { $0 + $1.shape.elementCount }
        }
        #expect(try count(vision: 1024, grid: 24, language: 4096) == 37_398_016)
        #expect(try count(vision: 1280, grid: 27, language: 4096) == 39_447_360)
    }

    @Test("TinyMM1 decoder: GQA shapes, untied head, sparse layers stacked as [E, I, H] (§4.1, §4.2)")
    func tinyDecoder() throws {
        let dense = try Self.shapes(Preset.preset(.tinyDense).config)
        #expect(dense["language.embed_tokens.weight"] == [256, 64])
        #expect(dense["language.layers.0.attention.q.weight"] == [64, 64])
        #expect(dense["language.layers.0.attention.k.weight"] == [32, 64])
        #expect(dense["language.layers.3.mlp.down.weight"] == [64, 128])
        #expect(dense["language.lm_head.weight"] == [256, 64])
        let moe = try Self.shapes(Preset.preset(.tinyMoE).config)
        #expect(moe["language.layers.0.mlp.gate.weight"] == [128, 64])
        #expect(moe["language.layers.1.moe.router.weight"] == [4, 64])
        #expect(moe["language.layers.1.moe.experts.gate"] == [4, 128, 64])
        #expect(moe["language.layers.3.moe.experts.down"] == [4, 64, 128])
        #expect(moe["language.layers.1.mlp.gate.weight"] == nil)
    }

    @Test("every preset is valid, and the MM1 presets mark what is unpublished", arguments: Preset.Name.allCases)
    func presets(_ name: Preset.Name) throws {
        let preset = Preset.preset(name)
        #expect(preset.config.problems().isEmpty, "\(preset.config.problems())")
        if name.rawValue.hasPrefix("mm1") {
            #expect(preset.config.imageTokens == 144)
            #expect(preset.unpublished["language.hidden_size"] != nil)
            #expect(preset.config.vision.grid == 27)
        }
        let graph = try MM1Model(graphOf: preset.config)
        #expect(Set(graph.specs.map(\.name)).count == graph.specs.count, "canonical names are unique")
    }

    @Test("configs round-trip through JSON")
    func roundTrip() throws {
        for name in Preset.Name.allCases {
            let config = Preset.preset(name).config
            #expect(try MM1Config.decode(from: try config.jsonData()) == config)
        }
    }

    @Test("every problem names its field")
    func problemsNameFields() throws {
        var config = Preset.preset(.tinyMoE).config
        config.language.kvHeads = 3
        config.vision.imageSize = 85
        config.language.moe?.sparseLayers = [1, 9]
        config.language.imageTokenID = 256
        config.connector = .cAbstractor(.init(imageTokens: 15, hiddenSize: 48, depth: 2))
        let fields = config.problems().map(\.field)
        #expect(fields.contains("language.kv_heads"))
        #expect(fields.contains("vision.image_size"))
        #expect(fields.contains("language.moe.sparse_layers"))
        #expect(fields.contains("language.image_token_id"))
        #expect(fields.contains("connector.image_tokens"))
    }

    @Test("decoding errors name the key path")
    func decodingErrors() throws {
        var json = String(decoding: try Preset.preset(.tinyDense).config.jsonData(), as: UTF8.self)
        json = json.replacingOccurrences(of: "\"kv_heads\" : 2", with: "\"kv_heads\" : \"two\"")
        #expect(json.contains("\"kv_heads\" : \"two\""), "the preset's JSON changed: the test no longer alters kv_heads")
        let wrongType = #expect(throws: ConfigError.self) { try MM1Config.decode(from: Data(json.utf8), file: "c.json") }
        #expect(wrongType?.field == "language.kv_heads")
        #expect(wrongType?.description.hasPrefix("c.json: language.kv_heads: expected Int") == true)
        let unknownKind = json.replacingOccurrences(of: "\"c_abstractor\"", with: "\"perceiver\"")
        #expect(unknownKind != json, "the preset's JSON changed: the test no longer alters the connector kind")
        let kindError = #expect(throws: ConfigError.self) { try MM1Config.decode(from: Data(unknownKind.utf8)) }
        #expect(kindError?.field == "connector.kind")
        #expect(kindError?.reason.contains("unknown connector kind \"perceiver\"") == true)
    }
}
