import Foundation

/// How far one stage's computed values are from the expected ones.
public struct StageMetrics: Sendable, Codable, Equatable {
    /// `max |a − e|`.
    public var maxAbsError: Double
    /// `max |a − e| / |e|` over the elements with `|e| ≥ 10⁻³ · scale` (smaller ones would only
    /// measure noise around zero).
    public var maxRelError: Double
    /// `max |e|`, the tensor's scale.
    public var scale: Double
    /// `maxAbsError / scale`: the figure the tolerance applies to.
    public var scaledError: Double
    /// Cosine similarity of the two tensors as vectors (1 when both are zero).
    public var cosine: Double
    /// Normalised mean squared error `Σ(a − e)² / Σe²` (0 when both are zero).
    public var nmse: Double

    enum CodingKeys: String, CodingKey {
        case scale, cosine, nmse
        case maxAbsError = "max_abs_error"
        case maxRelError = "max_rel_error"
        case scaledError = "scaled_error"
    }

    /// Compares `actual` with `expected` (same count).
    public init(expected: [Float], actual: [Float]) {
        precondition(expected.count == actual.count)
        var maxAbs = 0.0, scale = 0.0, dot = 0.0, ee = 0.0, aa = 0.0, squared = 0.0
        var nonFinite = false
        for i in expected.indices {
            let e = Double(expected[i]), a = Double(actual[i])
            if !e.isFinite || !a.isFinite { if e.bitPattern != a.bitPattern && !(e.isNaN && a.isNaN) { nonFinite = true }; continue }
            let d = abs(a - e)
            maxAbs = max(maxAbs, d)
            scale = max(scale, abs(e))
            dot += a * e; ee += e * e; aa += a * a; squared += d * d
        }
        var maxRel = 0.0
        let floor = scale * 1e-3
        for i in expected.indices {
            let e = Double(expected[i]), a = Double(actual[i])
            guard e.isFinite, a.isFinite, abs(e) >= floor, abs(e) > 0 else { continue }
            maxRel = max(maxRel, abs(a - e) / abs(e))
        }
        if nonFinite { maxAbs = .infinity; maxRel = .infinity }
        self.maxAbsError = maxAbs
        self.maxRelError = maxRel
        self.scale = scale
        self.scaledError = scale > 0 ? maxAbs / scale : (maxAbs > 0 ? .infinity : 0)
        self.cosine = (ee == 0 && aa == 0) || maxAbs == 0 ? 1 : (ee == 0 || aa == 0 ? 0 : min(1, dot / (ee.squareRoot() * aa.squareRoot())))
        self.nmse = ee == 0 ? (squared == 0 ? 0 : .infinity) : squared / ee
    }
}

/// Agreement of two sets of next-token logits `[…, vocab]`, token by token.
public struct LogitMetrics: Sendable, Codable, Equatable {
    /// Number of token positions compared.
    public var tokens: Int
    /// Mean over tokens of `KL(softmax(expected) ‖ softmax(actual))`, in nats.
    public var klMean: Double
    /// Largest per-token KL divergence.
    public var klMax: Double
    /// Fraction of tokens whose arg-max agrees.
    public var top1Agreement: Double

    enum CodingKeys: String, CodingKey {
        case tokens
        case klMean = "kl_mean"
        case klMax = "kl_max"
        case top1Agreement = "top1_agreement"
    }

    public init(expected: [Float], actual: [Float], vocab: Int) {
        precondition(expected.count == actual.count && vocab > 0 && expected.count % vocab == 0)
        let tokens = expected.count / vocab
        var klSum = 0.0, klMax = 0.0, agree = 0
        expected.withUnsafeBufferPointer { e in
            actual.withUnsafeBufferPointer { a in
                for t in 0..<tokens {
                    let pe = Self.logSoftmax(UnsafeBufferPointer(rebasing: e[(t * vocab)..<((t + 1) * vocab)]))
                    let pa = Self.logSoftmax(UnsafeBufferPointer(rebasing: a[(t * vocab)..<((t + 1) * vocab)]))
                    var kl = 0.0
                    for i in 0..<vocab where pe.values[i] > -.infinity { kl += exp(pe.values[i]) * (pe.values[i] - pa.values[i]) }
                    kl = max(kl, 0)
                    klSum += kl
                    klMax = max(klMax, kl)
                    if pe.argmax == pa.argmax { agree += 1 }
                }
            }
        }
        self.tokens = tokens
        self.klMean = tokens > 0 ? klSum / Double(tokens) : 0
        self.klMax = klMax
        self.top1Agreement = tokens > 0 ? Double(agree) / Double(tokens) : 1
    }

    private static func logSoftmax(_ x: UnsafeBufferPointer<Float>) -> (values: [Double], argmax: Int) {
        var m = -Double.infinity, argmax = 0
        for i in x.indices where Double(x[i]) > m { m = Double(x[i]); argmax = i }
        var sum = 0.0
        for v in x { sum += exp(Double(v) - m) }
        let log = m + Foundation.log(sum)
        return (x.map { Double($0) - log }, argmax)
    }
}
