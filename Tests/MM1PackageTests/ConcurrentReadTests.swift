import Foundation
import MM1Formats
import MM1Graph
import MM1Package
import MM1Tensor
import MM1TestSupport
import Testing

/// The library used from many threads at once: one open package and one GGUF file, 8 tasks reading,
/// converting and dequantizing tensors concurrently (10,000 reads), results identical to serial reads.
@Suite struct ConcurrentReadTests {
    @Test("8 concurrent tasks, 10,000 reads of a package's tensors (BF16→F32) and a GGUF's (Q8_0/Q4_0 dequantized): same values as serial")
    func concurrentReads() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Fixtures.importSample(into: dir)
        let gguf = try GGUFFile(path: Fixtures.path("gguf/quantized-llama.gguf"))
        let sources: [any TensorSource] = [package, gguf]
        let names = sources.map { $0.tensors.map(\.name) }
        let serial = try sources.indices.map { s in try Dictionary(uniqueKeysWithValues: names[s].map { ($0, try sources[s].view(named: $0).floats()) }) }

        let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<8 {
                group.addTask {
                    var bad = 0
                    for read in 0..<1250 {
                        let s = (task + read) % 2
                        let name = names[s][(task * 7919 + read * 104_729) % names[s].count]
                        if try sources[s].view(named: name).floats() != serial[s][name]! { bad += 1 }
                    }
                    return bad
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(mismatches == 0)
    }
}
