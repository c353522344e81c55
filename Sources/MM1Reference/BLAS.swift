#if canImport(Accelerate)
import Accelerate
#else
import CKernels
import COpenBLAS
import Dispatch
import Glibc
import Synchronization
#endif
import MM1Tensor

/// Matrix products for the reference forward pass, through the platform's BLAS (OpenBLAS on Linux,
/// loaded at run time by `COpenBLAS`; Accelerate on Apple platforms). This is the only file that
/// talks to BLAS.
public enum BLAS {
    /// Loads the library (Linux), which then runs one thread per call: mm1conv splits large products
    /// over ``ProcessorCount/active`` threads (`MM1CONV_THREADS`) itself, so no BLAS worker spins while
    /// the forward pass runs its own element-wise work. The forward pass calls this before its first product.
    /// - Throws: ``ReferenceError/library(_:)`` when OpenBLAS cannot be loaded.
    public static func prepare() throws(ReferenceError) {
        if let failure = loaded { throw .library(failure) }
    }

    private static let loaded: String? = {
        #if canImport(Accelerate)
        return nil
        #else
        return mm1_openblas_load().map { String(cString: $0) }
        #endif
    }()

    /// Which BLAS runs the products, e.g. `OpenBLAS (SkylakeX kernels, requested through OPENBLAS_CORETYPE)`.
    public static var description: String {
        #if canImport(Accelerate)
        return "Accelerate"
        #else
        guard loaded == nil else { return "OpenBLAS (not loaded: \(loaded!))" }
        let requested = String(cString: mm1_openblas_requested_core())
        return "OpenBLAS (\(String(cString: mm1_openblas_core())) kernels" + (requested.isEmpty ? "" : ", requested through OPENBLAS_CORETYPE")
            + (blocksReady ? "; linear layers on its packing routines and micro-kernel)" : ")")
        #endif
    }

    /// General single-precision product on row-major matrices with explicit leading dimensions:
    /// `c = alpha · op(a) · op(b) + beta · c`, `op(a)` is `m×k`, `op(b)` is `k×n`, `c` is `m×n`.
    /// `transposeB` reads `b` as `[n×k]` (a linear layer's `out × in` weight), so `x · Wᵀ` needs no copy.
    /// With `bias` (n values), C starts as the bias in every row and the product is added to it.
    /// Large products are split over the cores unless `split` is false (callers that already run
    /// products in parallel). Call ``prepare()`` once before the first product.
    public static func gemm(
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0,
        bias: UnsafePointer<Float>? = nil, split: Bool = true
    ) {
        #if canImport(Accelerate)
        if let bias { for r in 0..<m { (c + r * ldc).update(from: bias, count: n) } }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), bias == nil ? beta : 1, c, Int32(ldc))
        #else
        precondition(loaded == nil, "BLAS.prepare() was not called or failed")
        // Split the output columns (the weight's rows) over the cores, in multiples of 64; each part
        // is one single-threaded OpenBLAS call on disjoint columns of `c`.
        let threads = ProcessorCount.active
        let parts = split && m * n * k >= parallelWork ? min(threads, max(1, n / 64)) : 1
        nonisolated(unsafe) let (a, b, c, bias) = (a, b, c, bias)
        let call: @Sendable (Range<Int>) -> Void = { columns in
            let bPart = transposeB ? b + columns.lowerBound * ldb : b + columns.lowerBound
            // With a bias, each part starts its columns of C as the bias and adds the product (beta 1).
            if let bias {
                let bytes = columns.count * MemoryLayout<Float>.stride
                for r in 0..<m { memcpy(c + r * ldc + columns.lowerBound, bias + columns.lowerBound, bytes) }
            }
            mm1_openblas_sgemm(0, transposeB ? 1 : 0, Int32(m), Int32(columns.count), Int32(k), alpha, a, Int32(lda),
                               bPart, Int32(ldb), bias == nil ? beta : 1, c + columns.lowerBound, Int32(ldc))
        }
        if parts <= 1 { return call(0..<n) }
        let chunk = (n + parts - 1) / parts
        let step = (chunk + 63) / 64 * 64
        WorkerPool.shared.run((n + step - 1) / step) { i in
            call((i * step)..<min(n, (i + 1) * step))
        }
        #endif
    }

    /// One output of ``linear(_:tokens:width:ldx:_:)``: `out[t, i] = bias[i] + Σₚ x[t, p] · weight[i, p]`
    /// for `i < rows`; `weight` is a linear layer's `rows × width` matrix, row-major with rows `ldw`
    /// floats apart, and `out` is row-major with rows `ldc` floats apart.
    package struct LinearOutput {
        package let weight: UnsafePointer<Float>
        package let rows: Int
        package let ldw: Int
        package let out: UnsafeMutablePointer<Float>
        package let ldc: Int
        package let bias: UnsafePointer<Float>?
        /// The same weight as ``packWeight(_:rows:width:)`` laid it out, if it was packed beforehand
        /// (a weight used by many products); else each product packs it as it goes.
        package let packed: PackedWeight?

        package init(weight: UnsafePointer<Float>, rows: Int, ldw: Int, out: UnsafeMutablePointer<Float>, ldc: Int,
                    bias: UnsafePointer<Float>? = nil, packed: PackedWeight? = nil) {
            (self.weight, self.rows, self.ldw, self.out, self.ldc, self.bias, self.packed) = (weight, rows, ldw, out, ldc, bias, packed)
        }
    }

    /// A linear layer's weight laid out for OpenBLAS's micro-kernel once, for a process that runs many
    /// products with it: what ``linear(_:tokens:width:ldx:_:maxPackedInput:)`` otherwise packs in every call.
    package final class PackedWeight: @unchecked Sendable {
        /// The weight's rows and the input width it was packed for.
        package let rows: Int, width: Int
        let values: UnsafeMutablePointer<Float>

        fileprivate init(rows: Int, width: Int, values: UnsafeMutablePointer<Float>) {
            (self.rows, self.width, self.values) = (rows, width, values)
        }

        deinit { values.deallocate() }
    }

    /// `weight` (`rows × width`, rows `ldw` floats apart) packed for ``linear(_:tokens:width:ldx:_:maxPackedInput:)``,
    /// or nil where products do not run on OpenBLAS's building blocks. Same size as the weight.
    package static func packWeight(_ weight: UnsafePointer<Float>, rows: Int, width: Int, ldw: Int) -> PackedWeight? {
        #if canImport(Accelerate)
        return nil
        #else
        guard blocksReady, rows > 0, width > 0 else { return nil }
        let values = UnsafeMutablePointer<Float>.allocate(capacity: rows * width)
        PackedProduct.pack(weight, rows: rows, width: width, ldw: ldw, into: values)
        return PackedWeight(rows: rows, width: width, values: values)
        #endif
    }

    /// Linear layers that read the same input (a transformer's q, k and v; a SwiGLU's gate and up):
    /// `x` is `tokens × width`, row-major with rows `ldx` floats apart, and every output gets
    /// `x · weightᵀ + bias`.
    ///
    /// Where OpenBLAS exports its SkylakeX building blocks (see `mm1_openblas.h`), the input is packed
    /// once for all outputs and all threads, and the threads take blocks of 128 weight rows from any of
    /// the outputs as they finish the previous one, so a core that runs slower for a while does less of
    /// the work instead of making the other wait. The sums are formed exactly as `cblas_sgemm` forms
    /// them (checked bit for bit when the library is loaded). Elsewhere each output is one ``gemm``.
    ///
    /// `maxPackedInput` bounds the packed input (in floats, 16 MiB by default): longer inputs are taken
    /// in runs of tokens.
    package static func linear(_ x: UnsafePointer<Float>, tokens: Int, width: Int, ldx: Int, _ outputs: [LinearOutput],
                              maxPackedInput: Int = 1 << 22) {
        #if !canImport(Accelerate)
        precondition(loaded == nil, "BLAS.prepare() was not called or failed")
        let total = outputs.reduce(0) { $0 + $1.rows }
        if blocksReady, width > 0, tokens * total * width >= parallelWork {
            var start = 0
            // All tokens in one run when their pack fits; else runs of a multiple of 4 tokens (whole packs).
            let chunk = tokens * width <= maxPackedInput ? tokens : max(4, maxPackedInput / width / 4 * 4)
            while start < tokens {
                let count = min(chunk, tokens - start)
                if !PackedProduct.run(x + start * ldx, tokens: count, width: width, ldx: ldx, outputs.map { $0.advanced(tokens: start) }) {
                    break
                }
                start += count
            }
            if start == tokens { return }
            // No scratch memory for the packs: the rest goes through cblas_sgemm.
            for o in outputs { o.advanced(tokens: start).gemm(x + start * ldx, tokens: tokens - start, width: width, ldx: ldx, split: true) }
            return
        }
        #endif
        for o in outputs { o.gemm(x, tokens: tokens, width: width, ldx: ldx, split: true) }
    }

    /// Multiply-adds from which a product is worth splitting over the threads.
    private static let parallelWork = 1 << 22

    /// Whether ``linear(_:tokens:width:ldx:_:)`` runs on OpenBLAS's building blocks in this process.
    public static var packedProducts: Bool {
        #if canImport(Accelerate)
        return false
        #else
        return blocksReady
        #endif
    }

    #if !canImport(Accelerate)
    private static let blocksReady: Bool = loaded == nil && mm1_openblas_blocks_found() != 0 && PackedProduct.agreesWithCBLAS()
    #endif

    /// `c[m×n] = a[m×k] · bᵀ` where `b` is `[n×k]` row-major — the layout of a linear layer's weight
    /// (`out_features × in_features`), so `y = x · Wᵀ` needs no transpose copy.
    public static func matmulTransposedB(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int
    ) {
        gemm(a, lda: k, b, ldb: k, transposeB: true, c, ldc: n, m: m, n: n, k: k)
    }

    /// The naive twin of ``matmulTransposedB(_:_:_:m:n:k:)``, for tests: three loops, f64 accumulation.
    public static func matmulTransposedBNaive(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k { sum += Double(a[i * k + p]) * Double(b[j * k + p]) }
                c[i * n + j] = Float(sum)
            }
        }
    }
}

extension BLAS.LinearOutput {
    /// The same output from token `t` on.
    func advanced(tokens t: Int) -> Self {
        Self(weight: weight, rows: rows, ldw: ldw, out: out + t * ldc, ldc: ldc, bias: bias, packed: packed)
    }

    /// This output for `tokens` tokens through ``BLAS/gemm(_:lda:_:ldb:transposeB:_:ldc:m:n:k:alpha:beta:bias:split:)``.
    func gemm(_ x: UnsafePointer<Float>, tokens: Int, width: Int, ldx: Int, split: Bool) {
        BLAS.gemm(x, lda: ldx, weight, ldb: ldw, transposeB: true, out, ldc: ldc, m: tokens, n: rows, k: width, bias: bias, split: split)
    }
}

#if !canImport(Accelerate)
/// One run of ``BLAS/linear(_:tokens:width:ldx:_:)`` on OpenBLAS's building blocks (SkylakeX): the
/// input packed once (by all threads, a run of tokens each), then blocks of weight rows handed out
/// one at a time, each packed by the thread that takes it and multiplied with the whole input.
private enum PackedProduct {
    static let rowsPerBlock = 128

    /// The blocks along the input's width, as OpenBLAS cuts them: (offset, depth).
    static func depths(_ width: Int) -> [(offset: Int, depth: Int)] {
        var depths: [(offset: Int, depth: Int)] = []
        var offset = 0
        while offset < width {
            let depth = Int(mm1_openblas_block_depth(Int32(width - offset)))
            depths.append((offset, depth))
            offset += depth
        }
        return depths
    }

    /// A whole weight packed as the products take it: block of rows `b` (of ``rowsPerBlock``) starts
    /// at `b · rowsPerBlock · width`, and within it the depth block at `offset` starts at `offset · rows in the block`.
    static func pack(_ weight: UnsafePointer<Float>, rows: Int, width: Int, ldw: Int, into values: UnsafeMutablePointer<Float>) {
        let depths = depths(width)
        nonisolated(unsafe) let (weight, values) = (weight, values)
        WorkerPool.shared.run((rows + rowsPerBlock - 1) / rowsPerBlock) { block in
            let row = block * rowsPerBlock, count = min(rowsPerBlock, rows - row)
            for (offset, depth) in depths {
                mm1_openblas_pack_weight(Int32(depth), Int32(count), weight + row * ldw + offset, Int32(ldw),
                                         values + row * width + offset * count)
            }
        }
    }

    /// Whether products formed here reproduce single-threaded `cblas_sgemm` bit for bit, on shapes with
    /// every remainder (rows not a multiple of 16, tokens not a multiple of 4), one to three blocks along
    /// K and a halved block (449 = 224 + 225). Each has more than 100³ multiply-adds, so that cblas takes
    /// its packed path and not its small-matrix kernels (which sum in another order).
    static func agreesWithCBLAS() -> Bool {
        let shapes = [(37, 45, 700), (13, 83, 1000), (26, 50, 900), (9, 150, 800), (3, 400, 900), (1, 1200, 1000), (21, 300, 449)]
        return shapes.allSatisfy { tokens, rows, width in
            let x = (0..<(tokens * width)).map { Float(($0 &* 7919) % 997) / 997 - 0.5 }
            let w = (0..<(rows * width)).map { Float(($0 &* 104_729) % 991) / 991 - 0.5 }
            var expected = [Float](repeating: 0, count: tokens * rows), got = [Float](repeating: .nan, count: tokens * rows)
            var formed = false
            x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in
                let (x, w) = (xp.baseAddress!, wp.baseAddress!)
                mm1_openblas_sgemm(0, 1, Int32(tokens), Int32(rows), Int32(width), 1, x, Int32(width), w, Int32(width), 0, &expected, Int32(rows))
                got.withUnsafeMutableBufferPointer { c in
                    formed = run(x, tokens: tokens, width: width, ldx: width,
                                 [BLAS.LinearOutput(weight: w, rows: rows, ldw: width, out: c.baseAddress!, ldc: rows)], parallel: false)
                }
            } }
            return formed && zip(expected, got).allSatisfy { $0.bitPattern == $1.bitPattern }
        }
    }

    /// Returns false (having written nothing) when the input's scratch buffer cannot be allocated.
    /// `parallel: false` runs every block on the calling thread.
    static func run(_ x: UnsafePointer<Float>, tokens: Int, width: Int, ldx: Int, _ outputs: [BLAS.LinearOutput],
                    parallel: Bool = true) -> Bool {
        guard let inputScratch = mm1_openblas_scratch(0, tokens * width) else { return false }
        let depths = depths(width)
        let deepest = depths.map(\.depth).max() ?? 0  // not always the first: 449 is cut 224 + 225
        var firstBlock: [Int] = []
        var blocks = 0
        for o in outputs {
            firstBlock.append(blocks)
            blocks += (o.rows + rowsPerBlock - 1) / rowsPerBlock
        }
        let threads = parallel ? WorkerPool.shared.threads : 1
        let packers = tokens >= 16 * threads ? threads : 1
        let tokensPerPacker = ((tokens + packers - 1) / packers + 3) / 4 * 4  // packs of 4 tokens stay whole
        let packed = Counter()
        nonisolated(unsafe) let (x, packedInput) = (x, inputScratch)
        let item: (Int) -> Void = { item in
            if item < packers {
                let first = item * tokensPerPacker, end = min(tokens, first + tokensPerPacker)
                if first < end {
                    for (offset, depth) in depths {
                        mm1_openblas_pack_input(Int32(depth), Int32(end - first), x + first * ldx + offset, Int32(ldx),
                                                packedInput + offset * tokens + depth * first)
                    }
                }
                packed.value.add(1, ordering: .releasing)
                return
            }
            // Items are taken in order, so every packer has started; wait for the last to finish.
            while packed.value.load(ordering: .acquiring) < packers { mm1_spin_pause() }
            let block = item - packers
            let o = firstBlock.lastIndex { $0 <= block }!
            let output = outputs[o]
            let row = (block - firstBlock[o]) * rowsPerBlock, rows = min(rowsPerBlock, output.rows - row)
            let c = output.out + row
            for t in 0..<tokens {
                if let bias = output.bias { (c + t * output.ldc).update(from: bias + row, count: rows) }
                else { (c + t * output.ldc).update(repeating: 0, count: rows) }
            }
            // The block's weight for the depth block at `offset`: packed beforehand, or packed now.
            let packedWeight: (_ offset: Int, _ depth: Int) -> UnsafePointer<Float>
            if let packed = output.packed {
                precondition(packed.rows == output.rows && packed.width == width, "a packed weight used for another shape")
                let block = UnsafePointer(packed.values + row * width)
                packedWeight = { offset, _ in block + offset * rows }
            } else if let scratch = mm1_openblas_scratch(1, rows * deepest) {
                packedWeight = { offset, depth in
                    mm1_openblas_pack_weight(Int32(depth), Int32(rows), output.weight + row * output.ldw + offset, Int32(output.ldw), scratch)
                    return UnsafePointer(scratch)
                }
            } else {
                // No memory for this block's pack: the same sums through cblas_sgemm, onto the initial values.
                mm1_openblas_sgemm(0, 1, Int32(tokens), Int32(rows), Int32(width), 1, x, Int32(ldx), output.weight + row * output.ldw,
                                   Int32(output.ldw), 1, c, Int32(output.ldc))
                return
            }
            for (offset, depth) in depths {
                mm1_openblas_kernel(Int32(rows), Int32(tokens), Int32(depth), packedWeight(offset, depth), packedInput + offset * tokens,
                                    c, Int32(output.ldc))
            }
        }
        if parallel { WorkerPool.shared.run(packers + blocks, item) } else { for i in 0..<(packers + blocks) { item(i) } }
        return true
    }

    private final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }
}
#endif
