#if canImport(Accelerate)
import Accelerate
#else
import COpenBLAS
import Dispatch
import Glibc
#endif
import MM1Tensor

/// Matrix products for the reference forward pass, through the platform's BLAS (OpenBLAS on Linux,
/// loaded at run time by `COpenBLAS`; Accelerate on Apple platforms). This is the only file that
/// talks to BLAS.
public enum BLAS {
    /// Loads the library (Linux) and sets its thread count to ``ProcessorCount/active``
    /// (`MM1CONV_THREADS`). The forward pass calls this before its first product.
    /// - Throws: ``ReferenceError/library(_:)`` when OpenBLAS cannot be loaded.
    public static func prepare() throws(ReferenceError) {
        if let failure = loaded { throw .library(failure) }
    }

    private static let loaded: String? = {
        #if canImport(Accelerate)
        return nil
        #else
        if let failure = mm1_openblas_load() { return String(cString: failure) }
        // One OpenBLAS thread per call: ``gemm`` splits large products over the cores itself, so no
        // BLAS worker spins (sched_yield) while the forward pass runs its own element-wise work.
        mm1_openblas_set_threads(1)
        return nil
        #endif
    }()

    /// Which BLAS runs the products, e.g. `OpenBLAS (SkylakeX kernels, requested through OPENBLAS_CORETYPE)`.
    public static var description: String {
        #if canImport(Accelerate)
        return "Accelerate"
        #else
        guard loaded == nil else { return "OpenBLAS (not loaded: \(loaded!))" }
        let requested = String(cString: mm1_openblas_requested_core())
        return "OpenBLAS (\(String(cString: mm1_openblas_core())) kernels" + (requested.isEmpty ? ")" : ", requested through OPENBLAS_CORETYPE)")
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
        let parts = split && m * n * k >= 1 << 22 ? min(threads, max(1, n / 64)) : 1
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
