import Foundation
import MM1Graph
import MM1TestSupport
import Testing

/// Configs with values no model has: each is a ConfigError naming the field, never a trap (a negative
/// image_tokens once reached √ and Int(NaN), and an mlp_depth of 2.5 million built millions of graph nodes: both
/// found by the config fuzzer, kept in Tests/Fixtures/fuzz-regressions).
@Suite struct HostileConfigTests {
    static let regressions: [String] = {
        let dir = Fixtures.path("fuzz-regressions")
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("config-") }.sorted()
    }()

    @Test("the fuzzer's config findings are all there")
    func regressionsPresent() {
        #expect(Self.regressions == ["config-mlp-depth-millions.json", "config-negative-image-tokens.json"], "\(Self.regressions)")
    }

    @Test("fuzzer findings are refused with the field named", arguments: regressions)
    func regression(_ name: String) throws {
        let data = try Data(contentsOf: Fixtures.url("fuzz-regressions/\(name)"))
        let error = #expect(throws: ConfigError.self) { try MM1Config.decode(from: data) }
        #expect(error?.field.isEmpty == false, "\(String(describing: error))")
    }

    @Test("extreme sizes, zero patch size, extreme feature layer: refused naming the field", arguments: [
        ("vision", "patch_size", "0"), ("vision", "image_size", "9223372036854775807"), ("vision", "depth", "9223372036854775807"),
        ("vision", "feature_layer", "-9223372036854775808"), ("connector", "image_tokens", "-44"), ("connector", "image_tokens", "9223372036854775807"),
        ("language", "vocab_size", "9223372036854775807"), ("language", "layers", "-1"), ("connector", "depth", "9223372036854775807"),
        ("language", "layers", "5000000"), ("vision", "depth", "100000"), ("connector", "mlp_depth", "2555555"),
    ])
    func extremes(_ part: String, _ field: String, _ value: String) throws {
        var json = try JSONSerialization.jsonObject(with: try Preset.preset(.tinyDense).config.jsonData()) as! [String: Any]
        var section = json[part] as! [String: Any]
        section[field] = Int(value)!
        json[part] = section
        let data = try JSONSerialization.data(withJSONObject: json)
        let error = #expect(throws: ConfigError.self, "\(part).\(field) = \(value) was accepted") { try MM1Config.decode(from: data) }
        #expect(error?.field == "\(part).\(field)", "\(String(describing: error))")
    }
}
