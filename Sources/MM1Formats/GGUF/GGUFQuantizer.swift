import MM1Tensor

/// ggml's Q8_0 and Q4_0 quantizers, byte-exact with `quantize_row_q8_0_ref` / `quantize_row_q4_0_ref` and
/// gguf-py's `gguf.quants.quantize` (f32 arithmetic in their order). Rows must be whole
/// blocks of 32 and finite.
public enum GGUFQuantizer {
    /// Q8_0: per block `d = max|x| / 127`, `q = round(x / d)` (half away from zero), `d` stored as f16.
    public static func quantizeQ8_0(_ x: UnsafeBufferPointer<Float>, into out: UnsafeMutableRawBufferPointer) {
        precondition(x.count % 32 == 0 && out.count == x.count / 32 * 34)
        for b in 0..<(x.count / 32) {
            let block = UnsafeBufferPointer(rebasing: x[(b * 32)..<(b * 32 + 32)])
            var amax: Float = 0
            for v in block { amax = max(amax, abs(v)) }
            let d = amax / 127
            let id: Float = d == 0 ? 0 : 1 / d
            let o = b * 34
            out.storeBytes(of: HalfPrecision.float16Bits(fromFloat32: d).littleEndian, toByteOffset: o, as: UInt16.self)
            for j in 0..<32 {
                out[o + 2 + j] = UInt8(bitPattern: Int8((block[j] * id).rounded(.toNearestOrAwayFromZero)))
            }
        }
    }

    /// Q4_0: per block `d = x_max / −8` (`x_max` the element of largest magnitude, sign kept, first on ties),
    /// `q = min(15, trunc(x / d + 8.5))`, low nibbles elements 0–15, high nibbles 16–31, `d` stored as f16.
    public static func quantizeQ4_0(_ x: UnsafeBufferPointer<Float>, into out: UnsafeMutableRawBufferPointer) {
        precondition(x.count % 32 == 0 && out.count == x.count / 32 * 18)
        for b in 0..<(x.count / 32) {
            let block = UnsafeBufferPointer(rebasing: x[(b * 32)..<(b * 32 + 32)])
            var amax: Float = 0, extreme: Float = 0
            for v in block where abs(v) > amax {
                amax = abs(v)
                extreme = v
            }
            let d = extreme / -8
            let id: Float = d == 0 ? 0 : 1 / d
            let o = b * 18
            out.storeBytes(of: HalfPrecision.float16Bits(fromFloat32: d).littleEndian, toByteOffset: o, as: UInt16.self)
            func q(_ v: Float) -> UInt8 { UInt8(min(15, max(0, (v * id + 8.5).rounded(.towardZero)))) }
            for j in 0..<16 { out[o + 2 + j] = q(block[j]) | q(block[j + 16]) << 4 }
        }
    }
}
