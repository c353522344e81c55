import Foundation
import MM1Tensor

/// Opens PyTorch checkpoints: one file, a `pytorch_model.bin.index.json` with its shards, or a folder
/// holding either (the layouts Hugging Face writes with `safe_serialization=False`).
///
/// Index files are untrusted as safetensors indexes are: capped at ``ReadLimits/maxIndexBytes``, shard
/// names must be plain file names in the index's folder, and the shards' contents must match the
/// `weight_map` exactly.
public enum TorchCheckpoint {
    /// File name endings of PyTorch checkpoints.
    public static let fileExtensions = [".bin", ".pt", ".pth", ".ckpt"]
    /// The index Hugging Face writes beside `.bin` shards.
    public static let indexName = "pytorch_model.bin.index.json"

    /// Whether an input should be read as a PyTorch checkpoint: a file whose first bytes are a zip's or the
    /// legacy format's, or one named like a checkpoint that starts like a pickle or a tar; a
    /// `*.bin.index.json`; or a folder holding `pytorch_model.bin(.index.json)` and no safetensors.
    static func recognizes(_ probe: InputProbe) -> Bool {
        if probe.hasExtension(".bin.index.json") { return true }
        if let names = probe.folderNames { return folderEntry(named: names, in: probe.path) != nil }
        guard let head = probe.head else { return false }
        return head.withUnsafeBytes { bytes in
            let kind = TorchCheckpointFile.Container.sniff(bytes)
            if kind == .zip || kind == .legacy { return true }
            guard fileExtensions.contains(where: { probe.path.hasSuffix($0) }) else { return false }
            // A safetensors header length can start like a PROTO opcode, but has zeros after it.
            return (kind == .pickle && bytes[2] != 0) || TorchCheckpointFile.isTar(bytes)
        }
    }

    /// The index or single checkpoint a folder holds: `pytorch_model.bin.index.json`, else `pytorch_model.bin`
    /// (nil when it holds any safetensors, which are preferred).
    static func folderEntry(_ folder: String) -> String? {
        (try? FileManager.default.contentsOfDirectory(atPath: folder)).flatMap { folderEntry(named: $0, in: folder) }
    }

    static func folderEntry(named names: [String], in folder: String) -> String? {
        guard !SafetensorsCheckpoint.found(among: names) else { return nil }
        if names.contains(indexName) { return "\(folder)/\(indexName)" }
        if names.contains("pytorch_model.bin") { return "\(folder)/pytorch_model.bin" }
        return nil
    }

    /// Opens a file, an index or a folder.
    /// - Throws: ``FileSystemError`` or ``FormatError``.
    public static func open(_ path: String, limits: ReadLimits = .standard, pickleLimits: PickleLimits = .standard) throws -> OpenedCheckpoint {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            guard let entry = folderEntry(path) else { throw FormatError(.index(.noCheckpointFound), file: path) }
            return try open(entry, limits: limits, pickleLimits: pickleLimits)
        }
        if path.hasSuffix(".json") { return try openIndex(path, limits: limits, pickleLimits: pickleLimits) }
        let file = try TorchCheckpointFile(path: path, limits: pickleLimits)
        return OpenedCheckpoint(format: .pytorch, container: file.container.rawValue, source: file, files: [path],
                                warnings: file.warnings, globals: file.globals)
    }

    static func openIndex(_ path: String, limits: ReadLimits, pickleLimits: PickleLimits) throws -> OpenedCheckpoint {
        let index = try MappedFile(path: path)
        guard index.size <= limits.maxIndexBytes else { throw FormatError(.index(.indexTooLarge(size: index.size, limit: limits.maxIndexBytes)), file: path) }
        let json: JSONValue
        do { json = try withExtendedLifetime(index) { try StrictJSONParser(maxDepth: limits.maxJSONDepth).parse(index.bytes) } } catch {
            throw FormatError(.index(.invalidIndex(String(describing: error))), file: path)
        }
        guard let map = json.object?["weight_map"]?.object, map.count > 0 else {
            throw FormatError(.index(.invalidIndex("\"weight_map\" must be a non-empty object")), file: path)
        }
        var placed: [String: String] = [:]
        for (tensor, shard) in map.members {
            guard let shard = shard.string else { throw FormatError(.index(.invalidIndex("weight_map value for \"\(tensor)\" is not a string")), file: path) }
            guard SafetensorsCheckpoint.isSafeShardName(shard) else { throw FormatError(.index(.unsafeShardPath(shard)), file: path) }
            placed[tensor] = shard
        }
        let folder = (path as NSString).deletingLastPathComponent
        let shardNames = Set(placed.values).sorted()
        var mismatch = IndexMismatch()
        var files: [TorchCheckpointFile] = []
        let root = SafetensorsCheckpoint.realPath(folder.isEmpty ? "." : folder)
        for name in shardNames {
            let shardPath = folder.isEmpty ? name : "\(folder)/\(name)"
            // A shard that is a symbolic link out of the index's folder could pull in any file.
            if SafetensorsCheckpoint.fileType(shardPath) == S_IFLNK, let root, let resolved = SafetensorsCheckpoint.realPath(shardPath),
               !resolved.hasPrefix(root.hasSuffix("/") ? root : root + "/") {
                throw FormatError(.index(.unsafeShardPath(name)), file: path)
            }
            do {
                files.append(try TorchCheckpointFile(path: shardPath, limits: pickleLimits))
            } catch let error as FileSystemError where error.isMissingFile {
                mismatch.missingShards.append(name)
                continue
            }
            let file = files[files.count - 1]
            for info in file.tensors where placed[info.name] != name {
                mismatch.presentButUnlisted.append(.init(tensor: info.name, shard: name))
            }
            for (tensor, shard) in placed where shard == name && file.info(named: tensor) == nil {
                mismatch.listedButAbsent.append(.init(tensor: tensor, shard: name))
            }
        }
        mismatch.listedButAbsent.sort()
        mismatch.presentButUnlisted.sort()
        guard mismatch.isEmpty else { throw FormatError(.index(.mismatch(mismatch)), file: path) }
        let source = try MergedSource(files, description: path)
        var warnings = files.flatMap { f in f.warnings.map { "\(f.path): \($0)" } }
        if let declared = json.object?["metadata"]?.object?["total_size"]?.int, declared != source.totalByteCount {
            warnings.append("index metadata.total_size is \(declared) but the shards hold \(source.totalByteCount) bytes of tensor data")
        }
        let formats = Set(files.map(\.container.rawValue)).sorted().joined(separator: "+")
        return OpenedCheckpoint(format: .pytorch, container: formats, source: source, files: [path] + files.map(\.path), warnings: warnings,
                                globals: files.reduce(into: [String]()) { all, f in all += f.globals.filter { !all.contains($0) } })
    }
}
