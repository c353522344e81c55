import MM1Graph
import MM1Tensor

/// `mm1.json`, the manifest of an MM1 package (`Schemas/package.schema.json`). It is written last,
/// so a folder without a valid manifest is recognisably incomplete.
public struct PackageManifest: Codable, Sendable, Equatable {
    public static let formatName = "mm1conv-package"
    public static let currentVersion = 1
    public static let fileName = "mm1.json"

    public struct Tensor: Codable, Sendable, Equatable {
        public var dtype: DType
        public var shape: [Int]
        /// The shard file holding it.
        public var shard: String
        /// Absolute byte offset of its data in the shard file.
        public var offset: Int
        public var bytes: Int
        public var sha256: String
    }

    public struct Shard: Codable, Sendable, Equatable {
        public var bytes: Int
        public var sha256: String
    }

    public struct SourceFile: Codable, Sendable, Equatable {
        /// The file's name (not its folder, so packages of the same input are identical wherever it lies).
        public var name: String
        public var bytes: Int
        public var sha256: String
    }

    public struct Provenance: Codable, Sendable, Equatable {
        public var tool: String
        public var sourceFormat: String
        public var sources: [SourceFile]
        /// Dialects that named tensors, per component.
        public var dialects: [String: [String]]
        /// For each parameter: its source tensor(s) and transform.
        public var transforms: [String: String]
        public var decisions: [String]
        enum CodingKeys: String, CodingKey {
            case tool, sources, dialects, transforms, decisions
            case sourceFormat = "source_format"
        }
    }

    public var format: String
    public var formatVersion: Int
    public var config: MM1Config
    public var tensors: [String: Tensor]
    public var shards: [String: Shard]
    public var provenance: Provenance

    enum CodingKeys: String, CodingKey {
        case format, config, tensors, shards, provenance
        case formatVersion = "format_version"
    }
}
