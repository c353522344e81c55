import Crypto
import Foundation
import MM1Tensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
    /// The input as the user named it (a compressed file's own path, not its decompressed copy's).
    public var displayName: String { files.count == 1 && (format.hasSuffix("+zstd") || format == "hdf5") ? files[0] : source.sourceDescription }
    /// How each tensor is stored when that differs from how it reads (GGUF: `Q4_0`, … for block-quantized
    /// tensors, which read as dequantized F32).
    public var storedTypes: [String: String] = [:]
    /// The globals a PyTorch checkpoint's pickles name (`torch._utils._rebuild_tensor_v2`, …), for audits.
    public var globals: [String] = []
}

/// Opens checkpoints of any supported format through one call, so commands need no
/// format-specific code.
public enum Checkpoint {
    /// Opens `path`: a `.safetensors` file, a `*.safetensors.index.json`, or a folder of either.
    /// - Throws: ``FileSystemError`` or ``FormatError``.
    public static func open(_ path: String, limits: ReadLimits = .standard) throws -> OpenedCheckpoint {
        let magic = FileMagic.read(path)
        if magic.map({ bytes in bytes.withUnsafeBytes { ZstdInput.hasMagic($0) } }) == true || (magic != nil && path.hasSuffix(".zst")) {
            return try openCompressed(path, limits: limits)
        }
        if magic != nil, HDF5Input.hasSignature(path) {
            return try openHDF5(path, limits: limits)
        }
        if magic != nil, path.hasSuffix(".h5") || path.hasSuffix(".hdf5") {
            throw FormatError(.hdf5(.notHDF5), file: path)
        }
        if magic.map({ bytes in bytes.withUnsafeBytes { GGUFFile.hasMagic($0) } }) == true {
            let file = try GGUFFile(path: path)
            var opened = OpenedCheckpoint(format: "gguf", source: file, files: [path], warnings: [])
            opened.storedTypes = file.blockTypes
            return opened
        }
        if TorchCheckpoint.recognizes(path) {
            return try TorchCheckpoint.open(path, limits: limits)
        }
        if magic == nil, let ggufs = ggufFiles(in: path) {
            let files = try ggufs.map { try GGUFFile(path: $0) }
            var opened = OpenedCheckpoint(format: "gguf", source: try MergedSource(files, description: path), files: ggufs, warnings: [])
            opened.storedTypes = files.reduce(into: [:]) { $0.merge($1.blockTypes) { a, _ in a } }
            return opened
        }
        let checkpoint = try SafetensorsCheckpoint(path: path, limits: limits)
        return OpenedCheckpoint(
            format: "safetensors", source: checkpoint,
            files: (checkpoint.indexPath.map { [$0] } ?? []) + checkpoint.shards.map(\.path),
            warnings: checkpoint.warnings)
    }

    /// The GGUF files of a folder that holds no safetensors (e.g. the two files `export --format gguf`
    /// writes), or nil.
    public static func ggufFiles(in folder: String) -> [String]? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder),
              !names.contains(where: { $0.hasSuffix(".safetensors") || $0.hasSuffix(".safetensors.index.json") }) else { return nil }
        let ggufs = names.filter { $0.hasSuffix(".gguf") }.sorted().map { "\(folder)/\($0)" }
        return ggufs.isEmpty ? nil : ggufs
    }

    /// A zstd-compressed single file: decompressed into a private temporary file, opened (GGUF or
    /// safetensors, by magic), and unlinked at once — the mapping keeps the data; errors in the inner
    /// file name the compressed one.
    static func openCompressed(_ path: String, limits: ReadLimits) throws -> OpenedCheckpoint {
        let inner = try ZstdInput.decompress(path)
        defer { TemporaryPaths.discard(fileIn: inner) }
        do {
            let opened = try open(inner, limits: limits)
            guard opened.format == "gguf" || opened.format == "safetensors" || opened.format.hasPrefix("pytorch-") else { throw FormatError(.zstd(.corrupt("nested compression")), file: path) }
            var result = OpenedCheckpoint(format: opened.format + "+zstd", source: opened.source, files: [path], warnings: opened.warnings)
            result.storedTypes = opened.storedTypes
            result.globals = opened.globals
            return result
        } catch let error as FormatError {
            throw FormatError(error.reason, file: "\(path) (decompressed)", tensor: error.tensor, key: error.key)
        }
    }

    /// An HDF5 file: converted (in a child process when the tool runs) into a private temporary safetensors
    /// file, opened, and unlinked at once.
    static func openHDF5(_ path: String, limits: ReadLimits) throws -> OpenedCheckpoint {
        let folder = try TemporaryPaths.makePrivateFolder(prefix: "mm1conv-hdf5")
        let inner = folder + "/" + ((path as NSString).lastPathComponent as NSString).deletingPathExtension + ".safetensors"
        defer { TemporaryPaths.discard(fileIn: inner) }
        let warnings = try HDF5Input.convert(path, to: inner)
        let file = try SafetensorsFile(path: inner, limits: limits)
        return OpenedCheckpoint(format: "hdf5", source: file, files: [path], warnings: warnings)
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

/// The first bytes of a regular file, to recognise formats by content rather than by name.
enum FileMagic {
    static func read(_ path: String, count: Int = 8) -> [UInt8]? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: count)).map { [UInt8]($0) } ?? []
    }
}
