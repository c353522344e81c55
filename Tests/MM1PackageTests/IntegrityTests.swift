import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Tensor
import MM1TestSupport
import Testing

/// `verify --integrity`: the manifest's SHA-256 per shard and per tensor (computed while writing) catch
/// any changed byte and name the tensor it belongs to.
@Suite struct IntegrityTests {
    @Test("flipping a byte anywhere in a shard is detected and attributed: every other header byte, every 53rd data byte")
    func singleByteFlips() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let folder = Fixtures.path("forward/avgpool-stride-kernel")
        let config = try MM1Config.decode(from: Data(contentsOf: URL(fileURLWithPath: "\(folder)/config.json")))
        var importer = Importer()
        importer.dtype = .f16
        let package = dir.file("p.mm1")
        try importer.run(try Checkpoint.open("\(folder)/model.safetensors"), config: config, to: package)
        #expect(try PackageIntegrity.check(package).intact)

        let manifest = try PackageManifest.read(package: package)
        #expect(manifest.shards.count == 1)
        let (shardName, shard) = manifest.shards.first!
        let dataStart = manifest.tensors.values.map(\.offset).min()!
        let owner: (Int) -> String? = { byte in manifest.tensors.first { $0.value.offset <= byte && byte < $0.value.offset + $0.value.bytes }?.key }
        let fd = open("\(package)/\(shardName)", O_RDWR)
        defer { close(fd) }
        var checked = 0
        for byte in Array(stride(from: 0, to: dataStart, by: 2)) + Array(stride(from: dataStart, to: shard.bytes, by: 53)) {
            var original: UInt8 = 0
            _ = pread(fd, &original, 1, off_t(byte))
            var flipped = original ^ 0x01
            _ = pwrite(fd, &flipped, 1, off_t(byte))
            let report = PackageIntegrity.check(package, manifest: manifest)
            _ = pwrite(fd, &original, 1, off_t(byte))
            #expect(!report.intact && report.corruptedShards == [shardName], "byte \(byte)")
            if let tensor = owner(byte) {
                #expect(report.corruptedTensors == [tensor] && report.damagedHeaders.isEmpty, "byte \(byte) of \(tensor)")
            } else {
                #expect(report.corruptedTensors.isEmpty && report.damagedHeaders == [shardName], "byte \(byte) (header)")
            }
            checked += 1
        }
        #expect(checked > 2000)
        #expect(try PackageIntegrity.check(package).intact)
        // A missing shard: every tensor in it is reported.
        try FileManager.default.removeItem(atPath: "\(package)/\(shardName)")
        #expect(try PackageIntegrity.check(package).corruptedTensors.count == manifest.tensors.count)
    }
}
