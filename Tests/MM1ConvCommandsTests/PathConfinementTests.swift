import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1TestSupport
import Testing

/// Outputs stay inside `--out`: names from the input (tensor names with `/`, `..` or NUL; shard names in an
/// index or a manifest) never become paths outside it.
@Suite struct PathConfinementTests {
    /// Every file below `dir`, relative.
    static func files(_ dir: String) -> Set<String> {
        Set((FileManager.default.enumerator(atPath: dir)?.allObjects as? [String]) ?? [])
    }

    @Test("tensor names with '/', '..', NUL and absolute paths: imported (left unused) without a file outside --out")
    func hostileTensorNames() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let inner = dir.file("work")
        try FileManager.default.createDirectory(atPath: inner, withIntermediateDirectories: true)
        // The sample's canonical tensors plus hostile extras, in one checkpoint.
        let package = try Fixtures.importSample(into: dir)
        var entries: [(SafetensorsLayout.Entry, [UInt8])] = package.storage.map { part in
            (.init(name: part.name, dtype: part.dtype, shape: part.shape), part.view.withUnsafeBytes { Array($0) })
        }
        for name in ["../../escaped", "/tmp/absolute", "a/b/c", "nul\u{0}byte", "..", "model-00001-of-00001.safetensors"] {
            entries.append((.init(name: name, dtype: .f32, shape: [1]), [0, 0, 128, 63]))
        }
        try writeSafetensors(entries, to: "\(inner)/hostile.safetensors")
        let before = Self.files(dir.path)
        let r = try CommandRunner.run(["import", "\(inner)/hostile.safetensors", "--config", "\(package.path)/mm1.json",
                                       "--allow-unused", ".*", "--out", "\(inner)/out.mm1"])
        #expect(r.status == 0, "\(r.stderr)")
        let added = Self.files(dir.path).subtracting(before)
        #expect(added.allSatisfy { $0.hasPrefix("work/out.mm1") }, "\(added.sorted())")
        #expect(try PackageIntegrity.check("\(inner)/out.mm1").intact)
    }

    @Test("a manifest naming shards outside its folder ('../x.safetensors', '/etc/passwd', 'a/b.safetensors', NUL) is refused")
    func hostileShardNames() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Fixtures.importSample(into: dir)
        let manifestPath = "\(package.path)/mm1.json"
        let original = try String(contentsOfFile: manifestPath, encoding: .utf8)
        let shard = try #require(package.manifest.shards.keys.first)
        for hostile in ["../x.safetensors", "/etc/passwd", "a/b.safetensors", "x\\u0000.safetensors", ".."] {
            try original.replacingOccurrences(of: "\"\(shard)\"", with: "\"\(hostile)\"").write(toFile: manifestPath, atomically: true, encoding: .utf8)
            #expect(throws: PackageError.self, "\(hostile)") { try MM1Package.open(package.path) }
        }
    }
}
