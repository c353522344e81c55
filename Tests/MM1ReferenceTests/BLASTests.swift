import MM1Reference
import Testing

@Suite struct BLASTests {
    @Test("sgemm with a transposed weight matches the naive twin on odd shapes", arguments: [(1, 1, 1), (3, 5, 7), (17, 9, 33)])
    func matchesNaive(_ m: Int, _ n: Int, _ k: Int) throws {
        try BLAS.prepare()
        let a = (0..<(m * k)).map { Float(($0 * 7919) % 23) / 7 - 1.5 }
        let b = (0..<(n * k)).map { Float(($0 * 104729) % 19) / 5 - 1.8 }
        var fast = [Float](repeating: .nan, count: m * n)
        var slow = fast
        BLAS.matmulTransposedB(a, b, &fast, m: m, n: n, k: k)
        BLAS.matmulTransposedBNaive(a, b, &slow, m: m, n: n, k: k)
        for i in 0..<(m * n) {
            // f32 accumulation in BLAS vs f64 in the twin: a few ulps of the row's magnitude.
            #expect(abs(fast[i] - slow[i]) <= 1e-5 * Float(k) * 4, "element \(i)")
        }
    }
}
