#if canImport(Accelerate)
import Accelerate
#else
import COpenBLAS
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
        mm1_openblas_set_threads(Int32(ProcessorCount.active))
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
    /// Call ``prepare()`` once before the first product.
    public static func gemm(
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
        _ c: UnsafeMutablePointer<Float>, ldc: Int, m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0
    ) {
        #if canImport(Accelerate)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        #else
        precondition(loaded == nil, "BLAS.prepare() was not called or failed")
        mm1_openblas_sgemm(0, transposeB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
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
