import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Quantization
import MM1Tensor
import MM1TestSupport
import Testing

/// The library used from many threads at once: an open package, a quantized one and a GGUF file, 8 tasks
/// reading, converting and dequantizing tensors concurrently (10,000 reads), results identical to serial
/// reads (also run under ThreadSanitizer: `swift test --sanitize=thread`, see the issue notes).
@Suite struct ConcurrentReadTests {
    /// A source's parameters read as f32 by name: converted, or dequantized.
    struct Reader: Sendable {
        let names: [String]
        let read: @Sendable (String) throws -> [Float]
    }

    @Test("8 concurrent tasks, 10,000 reads of a package's tensors (BF16→F32), a quantized package's (int4 dequantized) and a GGUF's (Q8_0/Q4_0 dequantized): same values as serial")
    func concurrentReads() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Fixtures.importSample(into: dir)
        var importer = Importer()
        importer.quantization = QuantizationPolicy(bits: .int4, groupSize: 32)
        try importer.run(try Checkpoint.open(package.path), config: package.manifest.config, to: dir.file("q.mm1"))
        let quantized = try MM1Package.open(dir.file("q.mm1"))
        let gguf = try GGUFFile(path: Fixtures.path("gguf/quantized-llama.gguf"))
        let sources: [Reader] = [
            Reader(names: package.storage.map(\.name)) { try package.view(named: $0).floats() },
            Reader(names: quantized.model.specs.map(\.name)) { try quantized.parameter(named: $0).floats() },
            Reader(names: gguf.tensors.map(\.name)) { try gguf.view(named: $0).floats() },
        ]
        let names = sources.map(\.names)
        let serial = try sources.indices.map { s in try Dictionary(uniqueKeysWithValues: names[s].map { ($0, try sources[s].read($0)) }) }

        let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<8 {
                group.addTask {
                    var bad = 0
                    for read in 0..<1250 {
                        let s = (task + read) % 3
                        let name = names[s][(task * 7919 + read * 104_729) % names[s].count]
                        if try sources[s].read(name) != serial[s][name]! { bad += 1 }
                    }
                    return bad
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(mismatches == 0)
    }
}
