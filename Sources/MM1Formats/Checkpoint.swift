import MM1Tensor
import Crypto

/// A checkpoint opened for reading, whatever its format.
public struct OpenedCheckpoint: Sendable {
    /// The file format, e.g. `"safetensors"`.
    public let format: String
    /// The tensors.
    public let source: any TensorSource
    /// Every file read (shards, index).
    public let files: [String]
    /// Non-fatal findings from reading.
    public let warnings: [String]
}

/// Opens checkpoints of any supported format through one call, so commands need no
/// format-specific code.
public enum Checkpoint {
    /// Opens `path`: a `.safetensors` file, a `*.safetensors.index.json`, or a folder of either.
    /// - Throws: ``FileSystemError`` or ``FormatError``.
    public static func open(_ path: String, limits: ReadLimits = .standard) throws -> OpenedCheckpoint {
        let checkpoint = try SafetensorsCheckpoint(path: path, limits: limits)
        return OpenedCheckpoint(
            format: "safetensors", source: checkpoint,
            files: (checkpoint.indexPath.map { [$0] } ?? []) + checkpoint.shards.map(\.path),
            warnings: checkpoint.warnings)
    }

    /// The SHA-256 of a tensor's bytes, as lowercase hex.
    public static func sha256(of view: TensorView) -> String {
        view.withUnsafeBytes { Hashing.sha256($0) }
    }
}

extension String {
    init(format2 byte: UInt8) {
        let digits = Array("0123456789abcdef")
        self = String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }
}
