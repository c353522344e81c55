#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// Matrix products for the reference forward pass, through the platform's BLAS (OpenBLAS on Linux,
/// Accelerate on Apple platforms). This is the only file that imports the BLAS module.
public enum BLAS {
    /// `c[m×n] = a[m×k] · bᵀ` where `b` is `[n×k]` row-major — the layout of a linear layer's weight
    /// (`out_features × in_features`), so `y = x · Wᵀ` needs no transpose copy.
    public static func matmulTransposedB(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int
    ) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(k), 0, c, Int32(n))
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
