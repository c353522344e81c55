import Foundation
import MM1Formats
import MM1Graph
import MM1Quantization
import MM1Tensor

/// `mm1.json`, the manifest of an MM1 package (`Schemas/package.schema.json`). It is written last,
/// so a folder without a valid manifest is recognisably incomplete.
public struct PackageManifest: Codable, Sendable, Equatable {
    public static let formatName = "mm1conv-package"
    public static let currentVersion = 1
    public static let fileName = "mm1.json"

    /// Reads and checks the manifest of the package at `path`: strict JSON (duplicate keys, non-integers
    /// refused), the format name and version, and the config.
    /// - Throws: ``PackageError`` (`.noManifest` when the folder has none: an incomplete package).
    public static func read(package path: String) throws -> PackageManifest {
        func fail(_ r: PackageError.Reason) -> PackageError { PackageError(path: path, reason: r) }
        let manifestPath = "\(path)/\(fileName)"
        guard FileManager.default.fileExists(atPath: manifestPath) else { throw fail(.noManifest) }
        let file = try MappedFile(path: manifestPath)
        guard file.size <= 256 << 20 else { throw fail(.invalidManifest("larger than 256 MiB")) }
        // Strict pass first: duplicate keys and non-integers are refused before Codable sees the file.
        let strict = withExtendedLifetime(file) { Result { () throws(JSONError) in try StrictJSONParser().parse(file.bytes) } }
        if case .failure(let e) = strict { throw fail(.invalidManifest(e.description)) }
        let manifest: PackageManifest
        do {
            manifest = try JSONDecoder().decode(PackageManifest.self, from: Data(file.bytes))
        } catch let error as DecodingError {
            throw fail(.invalidManifest(ConfigError(decoding: error, file: nil).description))
        }
        guard manifest.format == formatName, manifest.formatVersion == currentVersion else {
            throw fail(.unsupportedVersion(format: manifest.format, version: manifest.formatVersion))
        }
        do { try manifest.config.validate() } catch { throw fail(.invalidManifest("config: \(error)")) }
        return manifest
    }

    public struct Tensor: Codable, Sendable, Equatable {
        public var dtype: DType
        public var shape: [Int]
        /// The shard file holding it.
        public var shard: String
        /// Absolute byte offset of its data in the shard file.
        public var offset: Int
        public var bytes: Int
        public var sha256: String
        /// Present on a quantized parameter's codes (stored under the parameter's name): the format,
        /// the parameter's own shape and the names of its scales and biases.
        public var quantization: Quantization? = nil

        package init(dtype: DType, shape: [Int], shard: String, offset: Int, bytes: Int, sha256: String, quantization: Quantization? = nil) {
            self.dtype = dtype
            self.shape = shape
            self.shard = shard
            self.offset = offset
            self.bytes = bytes
            self.sha256 = sha256
            self.quantization = quantization
        }
    }

    /// How a quantized parameter is stored (`Schemas/README.md`, "Quantized tensors").
    public struct Quantization: Codable, Sendable, Equatable {
        public var bits: QuantizedBits
        public var mode: QuantizationMode
        public var groupSize: Int
        /// The parameter's logical shape.
        public var shape: [Int]
        public var scales: String
        public var biases: String?
        /// Whether each group's clipping range was searched (`--optimize-scales`).
        public var optimizedScales: Bool

        public var format: QuantizedFormat { QuantizedFormat(bits: bits, mode: mode, groupSize: groupSize) }

        public init(format: QuantizedFormat, shape: [Int], scales: String, biases: String?, optimizedScales: Bool) {
            bits = format.bits
            mode = format.mode
            groupSize = format.groupSize
            self.shape = shape
            self.scales = scales
            self.biases = biases
            self.optimizedScales = optimizedScales
        }

        enum CodingKeys: String, CodingKey {
            case bits, mode, shape, scales, biases
            case groupSize = "group_size"
            case optimizedScales = "optimized_scales"
        }
    }

    /// Whether any parameter is quantized.
    public var isQuantized: Bool { tensors.values.contains { $0.quantization != nil } }

    public struct Shard: Codable, Sendable, Equatable {
        public var bytes: Int
        public var sha256: String

        package init(bytes: Int, sha256: String) {
            self.bytes = bytes
            self.sha256 = sha256
        }
    }

    public struct SourceFile: Codable, Sendable, Equatable {
        /// The file's name (not its folder, so packages of the same input are identical wherever it lies).
        public var name: String
        public var bytes: Int
        public var sha256: String

        package init(name: String, bytes: Int, sha256: String) {
            self.name = name
            self.bytes = bytes
            self.sha256 = sha256
        }
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

        package init(tool: String, sourceFormat: String, sources: [SourceFile], dialects: [String: [String]], transforms: [String: String], decisions: [String]) {
            self.tool = tool
            self.sourceFormat = sourceFormat
            self.sources = sources
            self.dialects = dialects
            self.transforms = transforms
            self.decisions = decisions
        }
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
    /// Other files of the package (the source's tokenizer, under `tokenizer/`), with their size and SHA-256.
    public var files: [String: Shard]? = nil

    package init(format: String, formatVersion: Int, config: MM1Config, tensors: [String: Tensor], shards: [String: Shard], provenance: Provenance, files: [String: Shard]? = nil) {
        self.format = format
        self.formatVersion = formatVersion
        self.config = config
        self.tensors = tensors
        self.shards = shards
        self.provenance = provenance
        self.files = files
    }

    enum CodingKeys: String, CodingKey {
        case format, config, tensors, shards, provenance, files
        case formatVersion = "format_version"
    }
}
