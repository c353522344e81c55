import MM1Tensor
/// Writes a checkpoint as one safetensors file, or as Hugging Face-style shards plus
/// `model.safetensors.index.json` when the tensors exceed a maximum shard size.
///
/// Sharding is greedy in the order the entries are given, as huggingface_hub does: a shard is closed
/// when the next tensor would push it past `maxShardBytes`, and a tensor larger than the limit gets a
/// shard of its own. Shards are written under temporary names and all moved into place by
/// ``commit()``, the index last, so a failed run leaves nothing at the final paths.
public final class SafetensorsCheckpointWriter {
    /// One planned output file.
    public struct Shard: Sendable {
        public let fileName: String
        public let layout: SafetensorsLayout
    }

    public let folder: String
    public let shards: [Shard]
    public let baseName: String
    private let overwrite: Bool
    private var writers: [SafetensorsWriter] = []
    private var current = 0

    /// Plans the files for `entries`; nothing is created until the first ``write(_:bytes:)``.
    /// - Parameters:
    ///   - maxShardBytes: the largest shard's tensor data, or `nil` for a single file.
    ///   - baseName: `model` gives `model.safetensors` or `model-00001-of-00002.safetensors`.
    public init(
        folder: String, entries: [SafetensorsLayout.Entry], maxShardBytes: Int? = nil,
        baseName: String = "model", metadata: [String: String] = ["format": "pt"], overwrite: Bool = false
    ) throws {
        var groups: [[SafetensorsLayout.Entry]] = [[]]
        var size = 0
        for e in entries {
            guard let n = e.shape.byteCount(of: e.dtype) else { throw OutputError.unrepresentable(tensor: e.name) }
            if let limit = maxShardBytes, size + n > limit, !groups[groups.count - 1].isEmpty {
                groups.append([])
                size = 0
            }
            groups[groups.count - 1].append(e)
            size += n
        }
        let count = groups.count
        func pad(_ i: Int) -> String { let s = String(i); return String(repeating: "0", count: max(0, 5 - s.count)) + s }
        self.shards = try groups.enumerated().map { (i, group) in
            let name = count == 1 ? "\(baseName).safetensors" : "\(baseName)-\(pad(i + 1))-of-\(pad(count)).safetensors"
            return Shard(fileName: name, layout: try SafetensorsLayout(entries: group, metadata: metadata))
        }
        var seen = Set<String>()
        for e in entries where !seen.insert(e.name).inserted { throw OutputError.duplicateTensor(e.name) }
        self.folder = folder
        self.baseName = baseName
        self.overwrite = overwrite
    }

    /// The path of the index file, when the checkpoint is sharded.
    public var indexPath: String? { shards.count > 1 ? "\(folder)/\(baseName).safetensors.index.json" : nil }

    /// Every tensor in the order ``write(_:bytes:)`` expects them: shard by shard, layout order.
    public var writeOrder: [TensorInfo] { shards.flatMap(\.layout.tensors) }

    /// Writes the next tensor's bytes.
    public func write(_ name: String, bytes: UnsafeRawBufferPointer) throws {
        try advance()
        try writers[current].write(name, bytes: bytes)
    }

    /// Lets `fill` produce the next tensor's bytes, then writes them.
    public func write(_ name: String, fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        try advance()
        try writers[current].write(name, fill: fill)
    }

    private func advance() throws {
        while current < writers.count, writers[current].nextTensor == nil { current += 1 }
        if current == writers.count, current < shards.count {
            let shard = shards[current]
            writers.append(try SafetensorsWriter(path: "\(folder)/\(shard.fileName)", layout: shard.layout, overwrite: overwrite))
        }
        guard current < writers.count else { throw OutputError.outOfOrder(expected: nil, got: "") }
    }

    /// Each shard file's SHA-256 and size, computed while writing; available after ``commit()``.
    public var shardDigests: [String: (sha256: String, bytes: Int)] {
        Dictionary(uniqueKeysWithValues: zip(shards, writers).compactMap { shard, w in w.digest.map { (shard.fileName, $0) } })
    }

    /// Moves every shard into place, then writes the index (for sharded output).
    public func commit() throws {
        while writers.count < shards.count {
            let shard = shards[writers.count]
            writers.append(try SafetensorsWriter(path: "\(folder)/\(shard.fileName)", layout: shard.layout, overwrite: overwrite))
        }
        let missing = writers.flatMap(\.remainingTensors)
        guard missing.isEmpty else { throw OutputError.incomplete(missing: missing) }
        for w in writers { try w.commit() }
        guard let indexPath else { return }
        let index = ShardIndexJSON.render(shards: shards)
        let file = try AtomicFile(path: indexPath, overwrite: overwrite)
        try file.write(Array(index.utf8))
        try file.commit()
    }
}

/// The index JSON as transformers writes it (`json.dumps(indent=2, sort_keys=True)` plus a newline).
enum ShardIndexJSON {
    static func render(shards: [SafetensorsCheckpointWriter.Shard]) -> String {
        let total = shards.reduce(0) { $0 + ($1.layout.tensors.last?.byteRange.upperBound ?? 0) }
        let map = shards.flatMap { s in s.layout.tensors.map { ($0.name, s.fileName) } }.sorted { $0.0 < $1.0 }
        let lines = map.map { "    \(JSONText.quoted($0.0)): \(JSONText.quoted($0.1))" }.joined(separator: ",\n")
        return "{\n  \"metadata\": {\n    \"total_size\": \(total)\n  },\n  \"weight_map\": {\n\(lines)\n  }\n}\n"
    }
}
