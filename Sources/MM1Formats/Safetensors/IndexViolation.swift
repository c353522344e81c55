/// One rule of a sharded checkpoint's `*.safetensors.index.json`, broken.
public enum IndexViolation: Sendable, Equatable, CustomStringConvertible {
    /// The index exceeds ``ReadLimits/maxIndexBytes``.
    case indexTooLarge(size: Int, limit: Int)
    /// Not JSON, or not shaped like an index.
    case invalidIndex(String)
    /// A shard name that could leave the checkpoint's folder.
    case unsafeShardPath(String)
    /// A shard whose extension is not `.safetensors`.
    case unexpectedShardFormat(String)
    /// The index and the shards disagree. Every disagreement is listed.
    case mismatch(IndexMismatch)
    /// A folder with neither an index nor safetensors files.
    case noCheckpointFound
    /// A folder with several index files, so which one is meant is unclear.
    case ambiguousIndex([String])
    /// Two files of a checkpoint without an index hold the same tensor (with an index, the copy the
    /// index does not name is reported in ``IndexMismatch/presentButUnlisted``).
    case tensorInSeveralFiles(files: [String])

    /// A stable name for the rule, used in JSON output and the malformed corpus (`"mismatch"`).
    public var code: String {
        switch self {
        case .indexTooLarge: "indexTooLarge"
        case .invalidIndex: "invalidIndex"
        case .unsafeShardPath: "unsafeShardPath"
        case .unexpectedShardFormat: "unexpectedShardFormat"
        case .mismatch: "mismatch"
        case .noCheckpointFound: "noCheckpointFound"
        case .ambiguousIndex: "ambiguousIndex"
        case .tensorInSeveralFiles: "tensorInSeveralFiles"
        }
    }

    public var description: String {
        switch self {
        case .indexTooLarge(let s, let l): "index of \(s) bytes exceeds the limit of \(l) bytes"
        case .invalidIndex(let why): "invalid index: \(why)"
        case .unsafeShardPath(let p): "shard name \"\(p)\" is absolute or leaves the checkpoint folder"
        case .unexpectedShardFormat(let p): "shard \"\(p)\" is not a .safetensors file"
        case .mismatch(let m): "index and shards disagree:\n\(m)"
        case .noCheckpointFound: "folder holds no *.safetensors.index.json and no *.safetensors file"
        case .ambiguousIndex(let files): "folder holds several index files: \(files.joined(separator: ", "))"
        case .tensorInSeveralFiles(let files): "tensor is present in several files: \(files.joined(separator: ", "))"
        }
    }
}

/// Everything on which an index and the shards it names disagree, collected in one pass.
public struct IndexMismatch: Sendable, Equatable, CustomStringConvertible {
    public struct Entry: Sendable, Equatable, Comparable {
        public let tensor: String
        public let shard: String
        public static func < (a: Entry, b: Entry) -> Bool { (a.tensor, a.shard) < (b.tensor, b.shard) }
    }
    /// Shard files named by the index that are not on disk.
    public var missingShards: [String] = []
    /// Tensors the index places in a shard that does not contain them.
    public var listedButAbsent: [Entry] = []
    /// Tensors a shard contains that the index does not place there.
    public var presentButUnlisted: [Entry] = []

    public var isEmpty: Bool { missingShards.isEmpty && listedButAbsent.isEmpty && presentButUnlisted.isEmpty }

    public var description: String {
        var lines: [String] = []
        lines += missingShards.map { "  shard missing from disk: \($0)" }
        lines += listedButAbsent.map { "  listed in the index but absent from \($0.shard): \(FormatError.abbreviated($0.tensor))" }
        lines += presentButUnlisted.map { "  present in \($0.shard) but not listed there by the index: \(FormatError.abbreviated($0.tensor))" }
        return lines.joined(separator: "\n")
    }
}
