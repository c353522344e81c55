import Foundation
import MM1Formats
import MM1Tensor

/// `mm1conv verify --integrity PKG`: recomputes the SHA-256 of every shard and every tensor recorded in the
/// manifest (computed while the package was written) and names what changed. Tensors are hashed at the
/// byte ranges the manifest records, so a damaged shard header does not hide which tensors are intact.
public struct IntegrityReport: Sendable, Codable, Equatable {
    /// Shards whose bytes differ from the manifest (size or SHA-256), or that are missing.
    public var corruptedShards: [String]
    /// Tensors whose bytes differ from the manifest.
    public var corruptedTensors: [String]
    /// Shards that differ although all their tensors are intact: header or padding bytes changed.
    public var damagedHeaders: [String]
    public var shardsChecked: Int
    public var tensorsChecked: Int
    public var bytesChecked: Int

    /// No shard or tensor differs (stored, so the JSON report carries it).
    public internal(set) var intact: Bool

    enum CodingKeys: String, CodingKey {
        case intact
        case corruptedShards = "corrupted_shards"
        case corruptedTensors = "corrupted_tensors"
        case damagedHeaders = "damaged_headers"
        case shardsChecked = "shards_checked"
        case tensorsChecked = "tensors_checked"
        case bytesChecked = "bytes_checked"
    }

    init() {
        corruptedShards = []
        corruptedTensors = []
        damagedHeaders = []
        shardsChecked = 0
        tensorsChecked = 0
        bytesChecked = 0
        intact = true
    }
}

public enum PackageIntegrity {
    /// Checks every shard and tensor of the package at `path` against its manifest.
    /// - Throws: ``PackageError`` when the manifest itself is missing or invalid.
    public static func check(_ path: String) throws -> IntegrityReport {
        check(path, manifest: try PackageManifest.read(package: path))
    }

    /// Checks the shards of the package at `path` against an already-read `manifest`.
    public static func check(_ path: String, manifest: PackageManifest) -> IntegrityReport {
        var report = IntegrityReport()
        let byShard = Dictionary(grouping: manifest.tensors, by: { $0.value.shard })
        for (name, shard) in manifest.shards.sorted(by: { $0.key < $1.key }) {
            report.shardsChecked += 1
            guard SafetensorsCheckpoint.isSafeShardName(name), let file = try? MappedFile(path: "\(path)/\(name)") else {
                report.corruptedShards.append(name)
                report.corruptedTensors += (byShard[name] ?? []).map(\.key)
                continue
            }
            report.bytesChecked += file.size
            let shardIntact = file.size == shard.bytes && Hashing.sha256(file.bytes) == shard.sha256
            var tensorsIntact = true
            for (tensor, entry) in (byShard[name] ?? []).sorted(by: { $0.key < $1.key }) {
                report.tensorsChecked += 1
                guard entry.offset >= 0, entry.bytes >= 0, entry.offset <= file.size - entry.bytes,
                      Hashing.sha256(UnsafeRawBufferPointer(rebasing: file.bytes[entry.offset..<(entry.offset + entry.bytes)])) == entry.sha256 else {
                    report.corruptedTensors.append(tensor)
                    tensorsIntact = false
                    continue
                }
            }
            if !shardIntact {
                report.corruptedShards.append(name)
                if tensorsIntact { report.damagedHeaders.append(name) }
            }
        }
        // Other files (the tokenizer) count as shards without tensors.
        for (name, entry) in (manifest.files ?? [:]).sorted(by: { $0.key < $1.key }) {
            report.shardsChecked += 1
            guard TokenizerFiles.isSafePackagePath(name), let file = try? MappedFile(path: "\(path)/\(name)"),
                  file.size == entry.bytes, Hashing.sha256(file.bytes) == entry.sha256 else {
                report.corruptedShards.append(name)
                continue
            }
            report.bytesChecked += file.size
        }
        report.corruptedTensors.sort()
        report.intact = report.corruptedShards.isEmpty && report.corruptedTensors.isEmpty
        return report
    }
}
