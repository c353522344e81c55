import MM1Tensor
import Dispatch
import Foundation

/// A checkpoint of one or more safetensors files, opened from a file, an index or a folder.
///
/// Which files make up the checkpoint:
/// 1. A `.safetensors` file: that file alone.
/// 2. A `*.safetensors.index.json` (Hugging Face's sharded layout, `model-00001-of-00004.safetensors`
///    …): the shards its `weight_map` names, beside it.
/// 3. A folder: its one `*.safetensors.index.json` if it has one (several are an error), otherwise
///    every `*.safetensors` file in it (MLX and some exporters shard without an index).
///
/// Index files are untrusted: hardened as huggingface_hub's loader is, an index over 10 MiB is
/// refused, shard names that are absolute or contain `..` or a backslash are refused, and which
/// tensors exist is decided by what the shards contain. Every disagreement between the index and
/// the shards is reported at once (``IndexMismatch``).
public final class SafetensorsCheckpoint: TensorSource, @unchecked Sendable {
    /// The shards, in the order of their file names.
    public let shards: [SafetensorsFile]
    /// The index file, when the checkpoint has one.
    public let indexPath: String?
    /// `metadata` of the index (e.g. `total_size`) as strings, or the single file's `__metadata__`.
    public let metadata: [String: String]
    /// Non-fatal findings (e.g. `total_size` disagreeing with the shards).
    public let warnings: [String]
    public let tensors: [TensorInfo]
    private let location: [String: Int]

    /// Opens a file, an index or a folder (see the type's rules).
    /// - Throws: ``FileSystemError`` or ``FormatError``.
    public init(path: String, limits: ReadLimits = .standard) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FileSystemError(path: path, operation: "open", code: ENOENT)
        }
        let shardPaths: [String]
        var indexMetadata: [String: String] = [:]
        var warnings: [String] = []
        var expected: [String: Int]?  // tensor → position of its shard in shardPaths, from the index
        if isDirectory.boolValue {
            let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
            let indexes = names.filter { $0.hasSuffix(".safetensors.index.json") }
            if indexes.count > 1 { throw FormatError(.index(.ambiguousIndex(indexes)), file: path) }
            if let index = indexes.first {
                let parsed = try Self.readIndex((path as NSString).appendingPathComponent(index), limits: limits)
                (shardPaths, indexMetadata, expected) = (parsed.shardPaths, parsed.metadata, parsed.shardOf)
                self.indexPath = (path as NSString).appendingPathComponent(index)
            } else {
                shardPaths = names.filter { $0.hasSuffix(".safetensors") }.map { (path as NSString).appendingPathComponent($0) }
                guard !shardPaths.isEmpty else { throw FormatError(.index(.noCheckpointFound), file: path) }
                self.indexPath = nil
            }
        } else if path.hasSuffix(".json") {
            let parsed = try Self.readIndex(path, limits: limits)
            (shardPaths, indexMetadata, expected) = (parsed.shardPaths, parsed.metadata, parsed.shardOf)
            self.indexPath = path
        } else {
            shardPaths = [path]
            self.indexPath = nil
        }

        // Open every shard that exists; note the missing ones to report with the rest.
        var mismatch = IndexMismatch()
        var opened: [SafetensorsFile?] = []
        for (shardPath, result) in zip(shardPaths, Self.open(shardPaths, limits: limits)) {
            switch result {
            case .success(let file): opened.append(file)
            case .failure(let error as FileSystemError) where error.isMissingFile && indexPath != nil:
                mismatch.missingShards.append((shardPath as NSString).lastPathComponent)
                opened.append(nil)
            case .failure(let error): throw error
            }
        }
        let shardNames = shardPaths.map { ($0 as NSString).lastPathComponent }

        var location: [String: Int]  // tensor → position in `opened`
        if let expected {
            // The index decides which tensors exist; check each against its shard, count what each
            // shard holds, and look for unlisted tensors only in shards whose counts disagree.
            var found = [Int](repeating: 0, count: opened.count)
            for (tensor, p) in expected {
                guard let shard = opened[p] else { continue }  // reported as a missing shard
                if shard.info(named: tensor) != nil {
                    found[p] += 1
                } else {
                    mismatch.listedButAbsent.append(.init(tensor: tensor, shard: shardNames[p]))
                }
            }
            for (p, shard) in opened.enumerated() {
                guard let shard, found[p] != shard.tensors.count else { continue }
                for info in shard.tensors where expected[info.name] != p {
                    mismatch.presentButUnlisted.append(.init(tensor: info.name, shard: shardNames[p]))
                }
            }
            mismatch.listedButAbsent.sort()
            mismatch.presentButUnlisted.sort()
            guard mismatch.isEmpty else { throw FormatError(.index(.mismatch(mismatch)), file: indexPath ?? path) }
            location = expected
        } else {
            location = [:]
            for (p, shard) in opened.enumerated() {
                for info in shard!.tensors {
                    if let other = location.updateValue(p, forKey: info.name) {
                        throw FormatError(.index(.tensorInSeveralFiles(files: [shardNames[other], shardNames[p]])), file: path, tensor: info.name)
                    }
                }
            }
        }
        let shards = opened.map { $0! }
        let all = shards.flatMap(\.tensors)
        if indexPath != nil {
            let total = all.reduce(0) { $0 + $1.byteCount }
            if let declared = indexMetadata["total_size"], Int(declared) != total {
                warnings.append("index metadata.total_size is \(declared) but the shards hold \(total) bytes of tensor data")
            }
        }

        self.shards = shards
        self.tensors = shards.count == 1 ? all : all.indices.sorted { all[$0].name < all[$1].name }.map { all[$0] }
        self.location = location
        self.metadata = indexPath == nil && shards.count == 1 ? shards[0].metadata : indexMetadata
        self.warnings = warnings + shards.flatMap { s in s.header.warnings.map { "\(s.path): \($0)" } }
    }

    public var sourceDescription: String { indexPath ?? shards.map(\.path).joined(separator: ", ") }

    public func info(named name: String) -> TensorInfo? {
        location[name].flatMap { shards[$0].info(named: name) }
    }

    public func view(named name: String) throws(TensorLookupError) -> TensorView {
        guard let i = location[name] else { throw TensorLookupError(name: name, source: sourceDescription) }
        return try shards[i].view(named: name)
    }

    /// The shard holding `name`.
    public func shard(holding name: String) -> SafetensorsFile? { location[name].map { shards[$0] } }

    /// Opens every shard, in parallel across the machine's cores; results stay in `paths` order so
    /// that the first failure reported is the same as in a serial run.
    static func open(_ paths: [String], limits: ReadLimits) -> [Result<SafetensorsFile, any Error>] {
        // Headers are small: threads only pay when there are many shards to open.
        guard paths.count >= 16, ProcessorCount.active > 1 else {
            return paths.map { path in Result { try SafetensorsFile(path: path, limits: limits) } }
        }
        let slots = UnsafeMutableBufferPointer<Result<SafetensorsFile, any Error>?>.allocate(capacity: paths.count)
        slots.initialize(repeating: nil)
        defer {
            _ = slots.deinitialize()
            slots.deallocate()
        }
        // Each iteration writes only its own slot.
        nonisolated(unsafe) let shared = slots
        DispatchQueue.concurrentPerform(iterations: paths.count) { i in
            shared[i] = Result { try SafetensorsFile(path: paths[i], limits: limits) }
        }
        return slots.map { $0! }
    }

    /// Reads an index: its shard paths (sorted, unique), its metadata, and its weight map.
    /// What an index says: shard paths sorted by name, its metadata, and each tensor's shard as a
    /// position in that sorted list (shard names are interned while parsing, so each tensor costs one
    /// hash of its name and one of its shard's).
    struct Index {
        var shardPaths: [String]
        var metadata: [String: String]
        var shardOf: [String: Int]
    }

    static func readIndex(_ path: String, limits: ReadLimits) throws -> Index {
        func fail(_ v: IndexViolation) -> FormatError { FormatError(.index(v), file: path) }
        let file = try MappedFile(path: path)
        guard file.size <= limits.maxIndexBytes else { throw fail(.indexTooLarge(size: file.size, limit: limits.maxIndexBytes)) }
        // Read with the pull reader: weight_map entries are strings, so no tree of values is built.
        var metadata: [String: String] = [:]
        var weightMap: [String: Int] = [:]  // tensor → shard id in order of first appearance
        var shardIDs: [String: Int] = [:]
        var sawWeightMap = false
        let outcome: Result<Void, any Error> = withExtendedLifetime(file) {
            Result {
                var reader = try JSONReader(file.bytes, limits: StrictJSONParser(maxDepth: limits.maxJSONDepth))
                guard reader.nextByte == UInt8(ascii: "{") else {
                    throw fail(.invalidIndex("expected a JSON object, found \(try reader.readValue().kind)"))
                }
                try reader.openObject()
                var keys = Set<String>()
                while let key = try reader.nextKey() {
                    guard keys.insert(key).inserted else { throw JSONError(reason: .duplicateKey(key, path: []), offset: reader.position) }
                    switch key {
                    case "weight_map":
                        guard reader.nextByte == UInt8(ascii: "{") else { throw fail(.invalidIndex("\"weight_map\" must be an object")) }
                        sawWeightMap = true
                        try reader.openObject()
                        weightMap.reserveCapacity(file.size / 64)
                        while let tensor = try reader.nextKey() {
                            let value = try reader.readValue()
                            guard case .string(let shard) = value else {
                                throw FormatError(.index(.invalidIndex("weight_map value must be a string, found \(value.kind)")), file: path, tensor: tensor)
                            }
                            let id: Int
                            if let known = shardIDs[shard] {
                                id = known
                            } else {
                                guard Self.isSafeShardName(shard) else { throw fail(.unsafeShardPath(shard)) }
                                guard shard.hasSuffix(".safetensors") else { throw fail(.unexpectedShardFormat(shard)) }
                                id = shardIDs.count
                                shardIDs[shard] = id
                            }
                            guard weightMap.updateValue(id, forKey: tensor) == nil else {
                                throw fail(.invalidIndex("duplicate key \"\(tensor)\" in weight_map"))
                            }
                        }
                    case "metadata":
                        if case .object(let m) = try reader.readValue() {
                            for (k, v) in m.members {
                                switch v {
                                case .string(let s): metadata[k] = s
                                case .number(let n): metadata[k] = n
                                case .unsigned(let n): metadata[k] = String(n)
                                default: continue
                                }
                            }
                        }
                    default:
                        _ = try reader.readValue()
                    }
                }
                try reader.finish()
            }
        }
        switch outcome {
        case .success: break
        case .failure(let error as JSONError): throw fail(.invalidIndex(error.description))
        case .failure(let error): throw error
        }
        guard sawWeightMap else { throw fail(.invalidIndex("\"weight_map\" must be an object")) }
        guard !weightMap.isEmpty else { throw fail(.invalidIndex("\"weight_map\" is empty")) }
        let folder = (path as NSString).deletingLastPathComponent
        let names = shardIDs.keys.sorted()
        var position = [Int](repeating: 0, count: names.count)
        for (p, name) in names.enumerated() { position[shardIDs[name]!] = p }
        let shardPaths = names.map { folder.isEmpty ? $0 : (folder as NSString).appendingPathComponent($0) }
        // A shard that is a symbolic link out of the checkpoint's folder could pull in any file.
        if let root = realPath(folder.isEmpty ? "." : folder) {
            for shardPath in shardPaths {
                if let resolved = realPath(shardPath), !resolved.hasPrefix(root.hasSuffix("/") ? root : root + "/") {
                    throw fail(.unsafeShardPath((shardPath as NSString).lastPathComponent))
                }
            }
        }
        // Ids become positions in the sorted list (mapValues keeps the table: nothing is rehashed).
        return Index(shardPaths: shardPaths, metadata: metadata, shardOf: weightMap.mapValues { position[$0] })
    }

    /// A shard name must be a plain file name in the checkpoint's folder, as every Hugging Face and
    /// MLX writer produces: no folder separators of either kind, no drive letter, no NUL, not `.`/`..`.
    public static func isSafeShardName(_ name: String) -> Bool {
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), !name.contains("\\"), !name.contains("\0") else { return false }
        return !(name.count >= 2 && name.dropFirst().first == ":")  // drive letter
    }

    /// The canonical absolute path of an existing file, or `nil`.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
