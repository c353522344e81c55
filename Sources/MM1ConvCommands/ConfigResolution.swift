import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Tensor

/// Where an import's configuration comes from, in order: `--config FILE`, `--preset NAME`, then a
/// `config.json` (Hugging Face LLaVA or Honeybee) or `mm1.json` beside the checkpoint.
enum ConfigResolution {
    struct Resolved {
        let config: MM1Config
        let notes: [String]
        let origin: String
    }

    static func resolve(configFile: String?, preset: String?, source: String) throws -> Resolved {
        if let configFile { return try read(configFile) }
        if let preset {
            guard let p = Preset.named(preset) else {
                throw ValidationFailure("unknown preset \"\(preset)\" (known: \(Preset.Name.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return Resolved(config: p.config, notes: ["configuration from preset \(preset)"], origin: "preset \(preset)")
        }
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory)
        // GGUF files written by `export` carry the whole MM1 config.
        let ggufs = isDirectory.boolValue ? Checkpoint.ggufFiles(in: source) ?? [] : (source.hasSuffix(".gguf") ? [source] : [])
        for path in ggufs {
            if let json = (try? GGUFFile(path: path))?.value(GGUFExport.configKey)?.string {
                return Resolved(config: try MM1Config.decode(from: Data(json.utf8), file: path),
                                notes: ["configuration from \(GGUFExport.configKey) in \(path)"], origin: path)
            }
        }
        let folder = isDirectory.boolValue ? source : (source as NSString).deletingLastPathComponent
        for name in [PackageManifest.fileName, "config.json"] {
            let candidate = folder.isEmpty ? name : "\(folder)/\(name)"
            if FileManager.default.fileExists(atPath: candidate) { return try read(candidate) }
        }
        throw ValidationFailure("no configuration: \(source) has no config.json or mm1.json beside it; pass --config FILE or --preset NAME")
    }

    /// Reads an MM1 config, a package manifest, or a Hugging Face config.json, by its shape.
    static func read(_ path: String) throws -> Resolved {
        let data = Data(try RegularFile.contents(path))
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigError(field: "", reason: "not a JSON object", file: path)
        }
        if json["format"] as? String == PackageManifest.formatName, let config = json["config"] {
            let inner = try JSONSerialization.data(withJSONObject: config)
            return Resolved(config: try MM1Config.decode(from: inner, file: path), notes: [], origin: path)
        }
        if json["vision"] != nil, json["language"] != nil {
            return Resolved(config: try MM1Config.decode(from: data, file: path), notes: [], origin: path)
        }
        if HFConfig.recognizes(json) {
            let result = try HFConfig.read(json, file: path)
            return Resolved(config: result.config, notes: ["configuration read from \(path)"] + result.notes, origin: path)
        }
        throw ConfigError(field: "", reason: "neither an MM1 config (vision/connector/language) nor a Hugging Face config with vision_config and text_config", file: path)
    }
}

/// A usage problem found after parsing (exit status 64).
struct ValidationFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
