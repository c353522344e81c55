import Foundation

/// Scaled dot-product attention over heads laid side by side in the columns, and HF's rotary embedding.
enum AttentionKernel {
    /// `softmax(q kᵀ / √d (+ causal mask)) v` for every head. `q` is `[Tq, heads·d]`, `k` and `v` are
    /// `[Tk, kvHeads·d]`; query head `h` reads key/value head `h / (heads / kvHeads)` (grouped-query
    /// attention, HF's `repeat_kv`). With `causal`, query `i` sees keys `0...i + (Tk − Tq)`.
    static func attend(q: Matrix, k: Matrix, v: Matrix, heads: Int, kvHeads: Int, headDim d: Int, causal: Bool) -> Matrix {
        precondition(q.cols == heads * d && k.cols == kvHeads * d && v.cols == kvHeads * d && k.rows == v.rows)
        precondition(heads % kvHeads == 0)
        let tq = q.rows, tk = k.rows, group = heads / kvHeads
        guard tq > 0, tk > 0 else { return Matrix(rows: tq, cols: heads * d) }
        var out = Matrix(uninitializedRows: tq, cols: heads * d)  // every head writes its d columns
        let scale = Float(1 / Double(d).squareRoot())
        q.values.withUnsafeBufferPointer { qp in
            k.values.withUnsafeBufferPointer { kp in
                v.values.withUnsafeBufferPointer { vp in
                    out.values.withUnsafeMutableBufferPointer { op in
                        let (qb, kb, vb, ob) = (qp.baseAddress!, kp.baseAddress!, vp.baseAddress!, op.baseAddress!)
                        let (qCols, kCols, vCols, oCols) = (q.cols, k.cols, v.cols, out.cols)
                        // Heads are independent: spread them over the cores, one scores buffer per range.
                        Parallel.forEachRange(heads, costPerItem: tq * tk * d, minimumWork: 1 << 18) { headRange in
                            let scores = UnsafeMutablePointer<Float>.allocate(capacity: tq * tk)
                            defer { scores.deallocate() }
                            for h in headRange {
                                let kvh = h / group
                                BLAS.gemm(qb + h * d, lda: qCols, kb + kvh * d, ldb: kCols, transposeB: true,
                                          scores, ldc: tk, m: tq, n: tk, k: d, alpha: scale, split: false)
                                // Masked scores get probability 0, exactly what softmax gives for −inf.
                                for i in 0..<tq {
                                    let row = scores + i * tk
                                    let visible = causal ? min(tk, i + 1 + (tk - tq)) : tk
                                    Ops.softmax(row, count: visible)
                                    for j in visible..<tk { row[j] = 0 }
                                }
                                BLAS.gemm(scores, lda: tk, vb + kvh * d, ldb: vCols, transposeB: false,
                                          ob + h * d, ldc: oCols, m: tq, n: d, k: tk, split: false)
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// Rotary position embedding in HF's rotate-half convention: dimension `j < d/2` pairs with `j + d/2`,
/// `inv_freq_j = θ^(−2j/d)` and the angles `position · inv_freq_j` are computed in f32 as transformers does.
struct Rotary {
    let headDim: Int
    let cos: [Float]
    let sin: [Float]

    /// Tables for positions `0..<positions`.
    init(headDim d: Int, theta: Double, positions: Int) {
        headDim = d
        let half = d / 2
        var cos = [Float](repeating: 0, count: positions * half), sin = cos
        for j in 0..<half {
            // torch: 1.0 / (base ** (arange(0, d, 2).float() / d)) — the exponent and the power in f32.
            let exponent = Float(2 * j) / Float(d)
            let invFreq = 1 / Float(Foundation.pow(Double(Float(theta)), Double(exponent)))
            for p in 0..<positions {
                let angle = Float(p) * invFreq
                cos[p * half + j] = Float(Foundation.cos(Double(angle)))
                sin[p * half + j] = Float(Foundation.sin(Double(angle)))
            }
        }
        self.cos = cos
        self.sin = sin
    }

    /// Rotates every head of `x` (`[T, heads·d]`, row `t` at position `t`) in place.
    func apply(_ x: inout Matrix) {
        let d = headDim, half = d / 2, heads = x.cols / d
        precondition(x.cols == heads * d && cos.count >= x.rows * half)
        let cols = x.cols
        x.values.withUnsafeMutableBufferPointer { p in
            guard let base = p.baseAddress else { return }
            cos.withUnsafeBufferPointer { cosBuffer in
                sin.withUnsafeBufferPointer { sinBuffer in
                    let (cp, sp) = (cosBuffer.baseAddress!, sinBuffer.baseAddress!)
                    Parallel.forEachRange(x.rows, costPerItem: cols * 4) { rows in
                        for t in rows {
                            for h in 0..<heads {
                                let v = base + t * cols + h * d
                                for j in 0..<half {
                                    let c = cp[t * half + j], s = sp[t * half + j]
                                    let a = v[j], b = v[j + half]
                                    v[j] = a * c - b * s
                                    v[j + half] = b * c + a * s
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
