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

@Suite struct LinearProductTests {
    /// Deterministic values in [-1, 1) that are not multiples of a power of two (so sums round).
    static func values(_ count: Int, seed: Int) -> [Float] {
        (0..<count).map { Float(($0 &* 7919 &+ seed &* 104_729) % 1009) / 504.5 - 1 }
    }

    /// Several outputs of one input through `BLAS.linear`, against each output through `BLAS.gemm`
    /// (one cblas_sgemm per output) and the naive twin. Where OpenBLAS's building blocks run the
    /// product, the sums are formed in cblas_sgemm's order, so the results are the same bits.
    @Test("linear layers sharing an input: same bits as cblas_sgemm, close to the naive sums",
          arguments: [(37, 1000, false, 1 << 22), (3, 1000, true, 1 << 22), (210, 449, true, 1 << 22), (61, 900, false, 4_000),
                      (1, 1300, true, 1 << 22)])
    func sharedInput(_ tokens: Int, _ width: Int, _ withBias: Bool, _ maxPackedInput: Int) throws {
        try BLAS.prepare()
        let rows = [300, 1, 130, 1500, 17]
        let ldx = width + 3  // rows of the input further apart than its width
        let x = Self.values(tokens * ldx, seed: 1)
        let weights = rows.enumerated().map { Self.values($1 * width, seed: 2 + $0) }
        let biases = rows.enumerated().map { Self.values($1, seed: 20 + $0) }
        // Plain buffers: the product reads and writes all of them at once.
        func buffer(_ values: [Float]) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(values.count, 1))
            p.initialize(from: values, count: values.count)
            return p
        }
        let xp = buffer(x), wp = weights.map(buffer), bp = biases.map(buffer)
        let outs = rows.map { buffer([Float](repeating: .nan, count: tokens * $0)) }
        let references = rows.map { buffer([Float](repeating: .nan, count: tokens * $0)) }
        defer { ([xp] + wp + bp + outs + references).forEach { $0.deallocate() } }
        for i in rows.indices {
            BLAS.gemm(xp, lda: ldx, wp[i], ldb: width, transposeB: true, references[i], ldc: rows[i], m: tokens, n: rows[i], k: width,
                      bias: withBias ? bp[i] : nil, split: false)
        }
        BLAS.linear(xp, tokens: tokens, width: width, ldx: ldx, rows.indices.map { i in
            BLAS.LinearOutput(weight: wp[i], rows: rows[i], ldw: width, out: outs[i], ldc: rows[i], bias: withBias ? bp[i] : nil)
        }, maxPackedInput: maxPackedInput)
        // The weights packed once beforehand (as CachedWeights keeps them): the same bits again.
        let packed = rows.indices.map { BLAS.packWeight(wp[$0], rows: rows[$0], width: width, ldw: width) }
        #expect(packed.allSatisfy { ($0 != nil) == BLAS.packedProducts })
        let again = rows.map { buffer([Float](repeating: .nan, count: tokens * $0)) }
        defer { again.forEach { $0.deallocate() } }
        BLAS.linear(xp, tokens: tokens, width: width, ldx: ldx, rows.indices.map { i in
            BLAS.LinearOutput(weight: wp[i], rows: rows[i], ldw: width, out: again[i], ldc: rows[i], bias: withBias ? bp[i] : nil,
                              packed: packed[i])
        }, maxPackedInput: maxPackedInput)
        for i in rows.indices {
            #expect((0..<(tokens * rows[i])).allSatisfy { again[i][$0].bitPattern == outs[i][$0].bitPattern }, "output \(i), prepacked")
        }
        for i in rows.indices {
            let count = tokens * rows[i]
            // cblas_sgemm runs products of at most 100³ multiply-adds through its small-matrix kernels,
            // which sum in another order; above that it runs the same blocks.
            if BLAS.packedProducts, tokens * rows[i] * width > 1_000_000 {
                let same = (0..<count).allSatisfy { outs[i][$0].bitPattern == references[i][$0].bitPattern }
                #expect(same, "output \(i) (\(rows[i]) rows) differs from cblas_sgemm's bits")
            }
            for t in [0, tokens - 1] {
                for r in [0, rows[i] / 2, rows[i] - 1] {
                    var sum = withBias ? Double(biases[i][r]) : 0
                    for p in 0..<width { sum += Double(x[t * ldx + p]) * Double(weights[i][r * width + p]) }
                    #expect(abs(Double(outs[i][t * rows[i] + r]) - sum) <= 1e-5 * Double(width), "output \(i) token \(t) row \(r)")
                }
            }
        }
    }

    @Test("OpenBLAS's building blocks run the linear layers where it runs its SkylakeX kernels")
    func blocksInUse() throws {
        try BLAS.prepare()
        #if os(Linux)
        if BLAS.description.contains("SkylakeX") { #expect(BLAS.packedProducts, "\(BLAS.description)") }
        #else
        #expect(!BLAS.packedProducts)
        #endif
    }
}
