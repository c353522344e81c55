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
    /// Every tensor of every shard, sorted by name (``TensorInfo/nameOrder(_:_:)``).
    public let tensors: [TensorInfo]
    /// For each of ``tensors``, the position of its shard in ``shards``.
    private let shardOfTensor: [Int]

    /// Opens a file, an index or a folder (see the type's rules).
    /// - Throws: ``FileSystemError`` or ``FormatError``.
    public init(path: String, limits: ReadLimits = .standard) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FileSystemError(path: path, operation: "open", code: ENOENT)
        }
        let shardPaths: [String]
        var index: Index?
        var early: [String: Result<SafetensorsFile, any Error>] = [:]  // shards opened while the index was read
        if isDirectory.boolValue {
            let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
            let indexes = names.filter { $0.hasSuffix(".safetensors.index.json") }
            if indexes.count > 1 { throw FormatError(.index(.ambiguousIndex(indexes)), file: path) }
            if let name = indexes.first {
                // Files named as Hugging Face names shards are opened while the index is read (on the
                // other cores); the index then decides which of them count.
                let guesses = names.filter(Self.isNamedLikeShard)
                    .map { (path as NSString).appendingPathComponent($0) }
                (index, early) = try Self.readIndex((path as NSString).appendingPathComponent(name), limits: limits, openingMeanwhile: guesses)
                shardPaths = index!.shardPaths
            } else {
                shardPaths = names.filter { $0.hasSuffix(".safetensors") }.map { (path as NSString).appendingPathComponent($0) }
                guard !shardPaths.isEmpty else { throw FormatError(.index(.noCheckpointFound), file: path) }
            }
        } else if path.hasSuffix(".json") {
            index = try Self.readIndex(path, limits: limits)
            shardPaths = index!.shardPaths
        } else {
            shardPaths = [path]
        }
        self.indexPath = index?.path

        // Open every shard that exists; note the missing ones to report with the rest.
        var mismatch = IndexMismatch()
        var opened: [SafetensorsFile?] = []
        let late = shardPaths.filter { early[$0] == nil }
        let opening = Dictionary(uniqueKeysWithValues: zip(late, Self.open(late, limits: limits))).merging(early) { a, _ in a }
        for shardPath in shardPaths {
            let result = opening[shardPath]!
            switch result {
            case .success(let file): opened.append(file)
            case .failure(let error as FileSystemError) where error.isMissingFile && index != nil:
                mismatch.missingShards.append(Self.fileName(shardPath))
                opened.append(nil)
            case .failure(let error): throw error
            }
        }
        let shardNames = shardPaths.map(Self.fileName)

        // Every tensor in name order; equal names are neighbours, the lower shard first.
        let merged = Self.mergedByName(opened)
        func tensorName(_ t: Named) -> String { opened[t.shard]!.tensors[t.i].name }
        if let index {
            // The index decides which tensors exist: both lists are sorted by name, so one walk over
            // the two finds every disagreement.
            var j = 0
            for e in index.entries {
                func compareNext() -> Int {
                    let t = merged[j]
                    if let x = index.nameBytes(e), let y = t.name { return TensorInfo.compareNames(x, y) }
                    return TensorInfo.nameOrder(index.name(of: e), tensorName(t)) ? -1 : index.name(of: e) == tensorName(t) ? 0 : 1
                }
                while j < merged.count, compareNext() > 0 {
                    mismatch.presentButUnlisted.append(.init(tensor: tensorName(merged[j]), shard: shardNames[merged[j].shard]))
                    j += 1
                }
                var listed = false
                while j < merged.count, compareNext() == 0 {
                    if merged[j].shard == e.shard {
                        listed = true
                    } else {
                        mismatch.presentButUnlisted.append(.init(tensor: tensorName(merged[j]), shard: shardNames[merged[j].shard]))
                    }
                    j += 1
                }
                if !listed, opened[e.shard] != nil {  // a missing shard is reported as such
                    mismatch.listedButAbsent.append(.init(tensor: index.name(of: e), shard: shardNames[e.shard]))
                }
            }
            for t in merged[j...] {
                mismatch.presentButUnlisted.append(.init(tensor: tensorName(t), shard: shardNames[t.shard]))
            }
            mismatch.listedButAbsent.sort()
            mismatch.presentButUnlisted.sort()
            guard mismatch.isEmpty else { throw FormatError(.index(.mismatch(mismatch)), file: index.path) }
        } else if let k = merged.indices.dropFirst().first(where: { !Self.less(merged[$0 - 1], merged[$0], opened) }) {
            throw FormatError(.index(.tensorInSeveralFiles(files: [shardNames[merged[k - 1].shard], shardNames[merged[k].shard]])),
                              file: path, tensor: tensorName(merged[k]))
        }
        let shards = opened.map { $0! }
        var warnings: [String] = []
        if let index {
            let total = shards.reduce(0) { n, shard in shard.tensors.reduce(n) { $0 + $1.byteCount } }
            if let declared = index.metadata["total_size"], Int(declared) != total {
                warnings.append("index metadata.total_size is \(declared) but the shards hold \(total) bytes of tensor data")
            }
        }

        self.shards = shards
        self.tensors = merged.map { shards[$0.shard].tensors[$0.i] }
        self.shardOfTensor = merged.map(\.shard)
        self.metadata = index == nil && shards.count == 1 ? shards[0].metadata : index?.metadata ?? [:]
        self.warnings = warnings + shards.flatMap { s in s.header.warnings.map { "\(s.path): \($0)" } }
    }

    public var sourceDescription: String { indexPath ?? shards.map(\.path).joined(separator: ", ") }

    public func info(named name: String) -> TensorInfo? {
        tensors.sortedPosition(of: name).map { tensors[$0] }
    }

    public func view(named name: String) throws(TensorLookupError) -> TensorView {
        guard let i = tensors.sortedPosition(of: name) else { throw TensorLookupError(name: name, source: sourceDescription) }
        return shards[shardOfTensor[i]].view(of: tensors[i])
    }

    /// The shard holding `name`.
    public func shard(holding name: String) -> SafetensorsFile? { tensors.sortedPosition(of: name).map { shards[shardOfTensor[$0]] } }

    /// ``readIndex(_:limits:)``, and meanwhile, on the other cores, opens the regular files of
    /// `guesses` (symbolic links are left for after the index's checks), keyed by path.
    static func readIndex(
        _ path: String, limits: ReadLimits, openingMeanwhile guesses: [String]
    ) throws -> (Index, [String: Result<SafetensorsFile, any Error>]) {
        let regular = guesses.filter { fileType($0) == S_IFREG }
        guard !regular.isEmpty, ProcessorCount.active > 1 else { return (try readIndex(path, limits: limits), [:]) }
        enum Job { case index(Result<Index, any Error>), shard(Result<SafetensorsFile, any Error>) }
        let done = concurrentMap(regular.count + 1) { i -> Job in
            i == 0 ? .index(Result { try readIndex(path, limits: limits) })
                : .shard(Result { try SafetensorsFile(path: regular[i - 1], limits: limits) })
        }
        guard case .index(let index) = done[0] else { preconditionFailure("job 0 reads the index") }
        let shards = done.dropFirst().map { job -> Result<SafetensorsFile, any Error> in
            guard case .shard(let result) = job else { preconditionFailure("jobs 1… open shards") }
            return result
        }
        return (try index.get(), Dictionary(uniqueKeysWithValues: zip(regular, shards)))
    }

    /// Opens every shard, in parallel across the machine's cores; results stay in `paths` order so
    /// that the first failure reported is the same as in a serial run.
    static func open(_ paths: [String], limits: ReadLimits) -> [Result<SafetensorsFile, any Error>] {
        // Parsing a shard's header (hundreds of entries) takes tens of microseconds or more: a second
        // thread pays from two shards on.
        guard paths.count >= 2, ProcessorCount.active > 1 else {
            return paths.map { path in Result { try SafetensorsFile(path: path, limits: limits) } }
        }
        return concurrentMap(paths.count) { i in Result { try SafetensorsFile(path: paths[i], limits: limits) } }
    }

    /// `body(0)` … `body(count − 1)` across the machine's cores, results in order (each iteration
    /// writes only its own slot).
    static func concurrentMap<T>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
        let slots = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
        slots.initialize(repeating: nil)
        defer {
            _ = slots.deinitialize()
            slots.deallocate()
        }
        nonisolated(unsafe) let shared = slots
        DispatchQueue.concurrentPerform(iterations: count) { i in shared[i] = body(i) }
        return slots.map { $0! }
    }

    /// A tensor of a shard: the shard's position, the tensor's in the shard's list, and its name's
    /// bytes in the mapped header (`nil` when written with escapes).
    typealias Named = (shard: Int, i: Int, name: UnsafeRawBufferPointer?)

    /// Whether `t`'s name comes before `u`'s: compared as bytes in the headers when both can be.
    static func less(_ t: Named, _ u: Named, _ shards: [SafetensorsFile?]) -> Bool {
        if let x = t.name, let y = u.name { return TensorInfo.compareNames(x, y) < 0 }
        return TensorInfo.nameOrder(shards[t.shard]!.tensors[t.i].name, shards[u.shard]!.tensors[u.i].name)
    }

    /// The tensors of every opened shard, sorted by name: the shards' own sorted lists merged two at a
    /// time, the lower shard first among equal names.
    static func mergedByName(_ shards: [SafetensorsFile?]) -> [Named] {
        var lists = shards.enumerated().map { p, shard -> [Named] in
            guard let shard else { return [] }
            return shard.tensors.indices.map { (shard: p, i: $0, name: shard.nameBytes($0)) }
        }
        while lists.count > 1 {
            lists = stride(from: 0, to: lists.count, by: 2).map { k in
                guard k + 1 < lists.count else { return lists[k] }
                let a = lists[k], b = lists[k + 1]
                var merged: [Named] = []
                merged.reserveCapacity(a.count + b.count)
                var i = 0, j = 0
                while i < a.count, j < b.count {
                    if less(b[j], a[i], shards) {
                        merged.append(b[j])
                        j += 1
                    } else {
                        merged.append(a[i])
                        i += 1
                    }
                }
                merged.append(contentsOf: a[i...])
                merged.append(contentsOf: b[j...])
                return merged
            }
        }
        return lists.first ?? []
    }

    /// What an index says: shard paths sorted by name, its metadata, and its weight map sorted by
    /// tensor name, each tensor's shard a position in that sorted list. Tensor names stay where they
    /// are in the index's text (made strings only for messages).
    struct Index {
        struct Entry {
            /// The name in the index's text, escapes unresolved.
            let text: Range<Int>
            /// The name's position in `unescaped` when it has escapes, else `-1`.
            let unescaped: Int
            let shard: Int
        }
        let path: String
        let file: MappedFile
        var shardPaths: [String]
        var metadata: [String: String]
        var entries: [Entry]
        /// The names written with escapes, resolved.
        var unescaped: [String]

        /// The name's bytes in the index's text, valid while `file` lives; `nil` when written with escapes.
        func nameBytes(_ e: Entry) -> UnsafeRawBufferPointer? {
            e.unescaped < 0 ? UnsafeRawBufferPointer(rebasing: file.bytes[e.text]) : nil
        }

        func name(of e: Entry) -> String {
            e.unescaped >= 0 ? unescaped[e.unescaped] : String(decoding: file.bytes[e.text], as: UTF8.self)
        }
    }

    static func readIndex(_ path: String, limits: ReadLimits) throws -> Index {
        func fail(_ v: IndexViolation) -> FormatError { FormatError(.index(v), file: path) }
        let file = try MappedFile(path: path)
        guard file.size <= limits.maxIndexBytes else { throw fail(.indexTooLarge(size: file.size, limit: limits.maxIndexBytes)) }
        // Read with the pull reader: weight_map entries are strings, so no tree of values is built.
        var metadata: [String: String] = [:]
        var entries: [Index.Entry] = []  // shard ids in order of first appearance
        var unescaped: [String] = []
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
                        entries.reserveCapacity(file.size / 64)
                        // Entries of one shard usually follow each other: a shard name equal to the
                        // previous one, byte for byte, is not made into a string and looked up again.
                        var previous: (text: UnsafeRawBufferPointer, id: Int)?
                        while let tensor = try reader.nextRawKey() {
                            if tensor.hasEscape { unescaped.append(try reader.string(tensor)) }
                            guard let raw = try reader.readRawString() else {
                                let kind = try reader.readValue().kind
                                throw FormatError(.index(.invalidIndex("weight_map value must be a string, found \(kind)")), file: path,
                                                  tensor: try reader.string(tensor))
                            }
                            let text = reader.bytes(of: raw)
                            let id: Int
                            if let previous, previous.text.count == text.count,
                               memcmp(previous.text.baseAddress!, text.baseAddress!, text.count) == 0 {
                                id = previous.id
                            } else if case let shard = try reader.string(raw), let known = shardIDs[shard] {
                                id = known
                                previous = (text, id)
                            } else {
                                let shard = try reader.string(raw)
                                guard Self.isSafeShardName(shard) else { throw fail(.unsafeShardPath(shard)) }
                                guard shard.hasSuffix(".safetensors") else { throw fail(.unexpectedShardFormat(shard)) }
                                id = shardIDs.count
                                shardIDs[shard] = id
                                previous = (text, id)
                            }
                            entries.append(.init(text: tensor.text, unescaped: tensor.hasEscape ? unescaped.count - 1 : -1, shard: id))
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
        guard !entries.isEmpty else { throw fail(.invalidIndex("\"weight_map\" is empty")) }
        let folder = (path as NSString).deletingLastPathComponent
        let names = shardIDs.keys.sorted()
        var position = [Int](repeating: 0, count: names.count)
        for (p, name) in names.enumerated() { position[shardIDs[name]!] = p }
        let shardPaths = names.map { folder.isEmpty ? $0 : (folder as NSString).appendingPathComponent($0) }
        // A shard that is a symbolic link out of the checkpoint's folder could pull in any file (a
        // shard name has no `/`, so only a link can lead out).
        let links = shardPaths.filter { fileType($0) == S_IFLNK }
        if !links.isEmpty, let root = realPath(folder.isEmpty ? "." : folder) {
            for shardPath in links {
                if let resolved = realPath(shardPath), !resolved.hasPrefix(root.hasSuffix("/") ? root : root + "/") {
                    throw fail(.unsafeShardPath(fileName(shardPath)))
                }
            }
        }
        let index = Index(path: path, file: file, shardPaths: shardPaths, metadata: metadata,
                          entries: entries.map { .init(text: $0.text, unescaped: $0.unescaped, shard: position[$0.shard]) }, unescaped: unescaped)
        // Sorted by name (transformers writes indexes sorted, so this is usually one check); a name
        // listed twice is then next to itself.
        let text = file.bytes
        func compare(_ a: Index.Entry, _ b: Index.Entry) -> Int {
            if a.unescaped < 0, b.unescaped < 0 {
                return TensorInfo.compareNames(UnsafeRawBufferPointer(rebasing: text[a.text]), UnsafeRawBufferPointer(rebasing: text[b.text]))
            }
            let x = index.name(of: a), y = index.name(of: b)
            return x == y ? 0 : TensorInfo.nameOrder(x, y) ? -1 : 1
        }
        var sorted = index.entries
        if !sorted.indices.dropFirst().allSatisfy({ compare(sorted[$0 - 1], sorted[$0]) < 0 }) {
            sorted.sort { compare($0, $1) < 0 }
            if let k = sorted.indices.dropFirst().first(where: { compare(sorted[$0 - 1], sorted[$0]) == 0 }) {
                throw fail(.invalidIndex("duplicate key \"\(index.name(of: sorted[k]))\" in weight_map"))
            }
        }
        return Index(path: path, file: file, shardPaths: shardPaths, metadata: metadata, entries: sorted, unescaped: unescaped)
    }

    /// Whether a folder's entry `names` hold a safetensors checkpoint (a file or an index): such a folder is read
    /// as safetensors, which other readers of folders (GGUF, PyTorch `.bin`) leave to this one.
    static func found(among names: [String]) -> Bool {
        names.contains { $0.hasSuffix(".safetensors") || $0.hasSuffix(".safetensors.index.json") }
    }

    /// A shard name must be a plain file name in the checkpoint's folder, as every Hugging Face and
    /// MLX writer produces: no folder separators of either kind, no drive letter, no NUL, not `.`/`..`.
    public static func isSafeShardName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard !name.isEmpty, name != ".", name != "..",
              !bytes.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "\\") || $0 == 0 }) else { return false }
        return !(name.count >= 2 && name.dropFirst().first == ":")  // drive letter
    }

    /// Whether a file name looks like a Hugging Face shard's: `….safetensors` with `-of-` in it.
    static func isNamedLikeShard(_ name: String) -> Bool {
        guard name.hasSuffix(".safetensors") else { return false }
        let u = Array(name.utf8)
        return u.indices.dropLast(3).contains { u[$0] == 0x2D && u[$0 + 1] == 0x6F && u[$0 + 2] == 0x66 && u[$0 + 3] == 0x2D }
    }

    /// The last component of a path (what follows its last `/`).
    static func fileName(_ path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
        return String(path[path.utf8.index(after: slash)...])
    }

    /// What `path` itself is (`S_IFREG`, `S_IFLNK`, …: links are not followed), or `nil` when absent.
    static func fileType(_ path: String) -> mode_t? {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : nil
    }

    /// The canonical absolute path of an existing file, or `nil`.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
