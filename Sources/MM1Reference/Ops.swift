import CKernels
import Foundation
import MM1Tensor

/// Splits row-wise work over the active processors when there is enough of it to pay for the threads.
enum Parallel {
    /// Calls `body` on disjoint ranges covering `0..<count`; serially below `minimumWork` elements
    /// (`count · costPerItem`).
    static func forEachRange(_ count: Int, costPerItem: Int = 1, minimumWork: Int = 1 << 16, _ body: @escaping (Range<Int>) -> Void) {
        let threads = ProcessorCount.active
        guard threads > 1, count > 1, count * costPerItem >= minimumWork else {
            body(0..<count)
            return
        }
        let chunks = min(count, threads * 4)
        // The ranges are disjoint, so the callers' buffers are never written from two threads at once.
        WorkerPool.shared.run(chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// The element-wise and row-wise operations of the reference forward pass, with the numerics of
/// PyTorch's f32 kernels (statistics accumulated in f64, which is at least as accurate).
enum Ops {
    /// `y = x · Wᵀ (+ b)`: a linear layer, `W` stored `[out, in]`.
    static func linear(_ x: Matrix, _ weight: Weight, _ bias: Weight? = nil) -> Matrix {
        linear(x, [(weight, bias)])[0]
    }

    /// Linear layers over the same input (`[(W, b)]`, each `W` stored `[out, in]`), in one product:
    /// the input is read and packed once for all of them (see ``BLAS/linear(_:tokens:width:ldx:_:)``).
    static func linear(_ x: Matrix, _ layers: [(weight: Weight, bias: Weight?)]) -> [Matrix] {
        for (weight, bias) in layers {
            precondition(weight.cols == x.cols, "linear: \(x.cols) inputs for a weight \(weight.shape)")
            precondition((bias?.count ?? weight.rows) == weight.rows)
        }
        guard x.rows > 0 else { return layers.map { Matrix(rows: 0, cols: $0.weight.rows) } }
        return x.values.withUnsafeBufferPointer { a in
            // Each output is written while its array is being created (nested, one per layer); the
            // innermost level runs the product over all of them.
            func outputs(from i: Int, _ targets: [BLAS.LinearOutput]) -> [Matrix] {
                guard i < layers.count else {
                    BLAS.linear(a.baseAddress!, tokens: x.rows, width: x.cols, ldx: x.cols, targets)
                    return []
                }
                let (weight, bias) = layers[i]
                var rest: [Matrix] = []
                let values = [Float](unsafeUninitializedCapacity: x.rows * weight.rows) { c, count in
                    let target = c.baseAddress.map { weight.linearOutput(into: $0, ldc: weight.rows, bias: bias) }
                    rest = outputs(from: i + 1, targets + (target.map { [$0] } ?? []))
                    count = x.rows * weight.rows
                }
                return [Matrix(rows: x.rows, cols: weight.rows, values: values)] + rest
            }
            return outputs(from: 0, [])
        }
    }

    /// `x += y`, element-wise.
    static func add(_ x: inout Matrix, _ y: Matrix) {
        precondition(x.rows == y.rows && x.cols == y.cols)
        x.values.withUnsafeMutableBufferPointer { a in
            y.values.withUnsafeBufferPointer { b in
                guard let pa = a.baseAddress, let pb = b.baseAddress else { return }
                Parallel.forEachRange(a.count, minimumWork: 1 << 17) { range in
                    for i in range { pa[i] += pb[i] }
                }
            }
        }
    }

    /// LayerNorm over each row (biased variance, as `torch.nn.functional.layer_norm`): the AVX2 kernel
    /// where the CPU has it, else scalar with f64 statistics.
    static func layerNorm(_ x: Matrix, _ weight: Weight, _ bias: Weight?, eps: Double) -> Matrix {
        precondition(weight.count == x.cols && (bias?.count ?? x.cols) == x.cols)
        var y = x
        let cols = x.cols
        y.values.withUnsafeMutableBufferPointer { p in
            guard let base = p.baseAddress else { return }
            Parallel.forEachRange(x.rows, costPerItem: cols) { range in
                let start = base + range.lowerBound * cols
                if mm1_layer_norm(start, range.count, cols, weight.pointer, bias?.pointer, Float(eps)) == range.count { return }
                for r in 0..<range.count {
                    let row = start + r * cols
                    var sum = 0.0
                    for c in 0..<cols { sum += Double(row[c]) }
                    let mean = sum / Double(cols)
                    var squares = 0.0
                    for c in 0..<cols { let d = Double(row[c]) - mean; squares += d * d }
                    let rstd = 1 / (squares / Double(cols) + eps).squareRoot()
                    for c in 0..<cols {
                        let normed = Float((Double(row[c]) - mean) * rstd)
                        row[c] = normed * weight[c] + (bias?[c] ?? 0)
                    }
                }
            }
        }
        return y
    }

    /// RMSNorm over each row as HF Llama computes it: `weight · (x · rsqrt(mean(x²) + eps))`, the
    /// normalised value rounded to f32 before the multiplication by the weight.
    static func rmsNorm(_ x: Matrix, _ weight: Weight, eps: Double) -> Matrix {
        precondition(weight.count == x.cols)
        var y = x
        let cols = x.cols
        y.values.withUnsafeMutableBufferPointer { p in
            let base = p.baseAddress!
            Parallel.forEachRange(x.rows, costPerItem: cols) { range in
                for r in range {
                    let row = base + r * cols
                    var squares = 0.0
                    for c in 0..<cols { squares += Double(row[c]) * Double(row[c]) }
                    let scale = Float(1 / (Float(squares / Double(cols)) + Float(eps)).squareRoot())
                    for c in 0..<cols { row[c] = weight[c] * (row[c] * scale) }
                }
            }
        }
        return y
    }

    /// A point-wise activation function.
    enum Activation: Sendable {
        /// `x · σ(1.702 x)` (OpenAI CLIP).
        case quickGELU
        /// The exact, erf-based GELU.
        case gelu
        /// `x · σ(x)`.
        case silu
        /// `σ(x)`.
        case sigmoid

        @inline(__always) func apply(_ x: Float) -> Float {
            switch self {
            case .quickGELU: x / (1 + expf(-1.702 * x))
            case .gelu: Float(0.5 * Double(x) * (1 + erf(Double(x) * 0.7071067811865476)))
            case .silu: x / (1 + expf(-x))
            case .sigmoid: 1 / (1 + expf(-x))
            }
        }
    }

    /// Applies `activation` to every element.
    static func activate(_ x: inout Matrix, _ activation: Activation) {
        x.values.withUnsafeMutableBufferPointer { p in
            guard let base = p.baseAddress else { return }
            Parallel.forEachRange(p.count, minimumWork: 1 << 15) { range in
                activate(base + range.lowerBound, count: range.count, activation)
            }
        }
    }

    /// Applies `activation` to `count` values at `x`: the AVX2 kernel where the CPU has it (not for
    /// the erf GELU), else the scalar formula.
    static func activate(_ x: UnsafeMutablePointer<Float>, count: Int, _ activation: Activation) {
        let kind: Int32? = switch activation {
        case .quickGELU: 0
        case .silu: 1
        case .sigmoid: 2
        case .gelu: nil
        }
        if let kind, mm1_activation(x, count, kind) == count { return }
        for i in 0..<count { x[i] = activation.apply(x[i]) }
    }

    /// Softmax over `count` values at `row`, in place (max-subtracted, as PyTorch): the AVX2 kernel
    /// where the CPU has it, else scalar.
    @inline(__always) static func softmax(_ row: UnsafeMutablePointer<Float>, count: Int) {
        if mm1_softmax(row, count) == count { return }
        var maximum = -Float.infinity
        for i in 0..<count { maximum = max(maximum, row[i]) }
        var sum: Float = 0
        for i in 0..<count {
            let e = maximum == -.infinity ? 0 : expf(row[i] - maximum)
            row[i] = e
            sum += e
        }
        let inverse = sum > 0 ? 1 / sum : 0
        for i in 0..<count { row[i] *= inverse }
    }
}
