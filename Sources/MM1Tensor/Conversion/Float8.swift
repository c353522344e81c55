/// 8-bit float formats, matching PyTorch's `float8_e4m3fn` and `float8_e5m2` (c10 `Float8_e4m3fn.h`,
/// `Float8_e5m2.h`).
///
/// 1. E4M3FN has no infinities: `0x7F`/`0xFF` are NaN and the largest finite value is 448.
///    f32 → E4M3FN rounds to nearest even and **saturates**: every magnitude above 448, ±Inf
///    included, becomes ±448; NaN becomes `0x7F` with the input's sign. (This is what torch 2.15's
///    `Tensor.to(torch.float8_e4m3fn)` does on the CPU, measured by the golden fixtures; the older
///    c10 scalar code, and the design notes, turned overflow into NaN. The measured behaviour wins.)
/// 2. E5M2 is the top byte of an f16: decoding is exact (a signalling NaN comes back quiet, as for
///    f16). f32 → E5M2 rounds to nearest even; magnitudes ≥ 65536 give ±Inf, NaN gives `0x7F`/`0xFF`.
public enum Float8 {
    /// The f32 bit pattern of the E4M3FN value `b`.
    public static func float32Bits(fromE4M3 b: UInt8) -> UInt32 {
        let sign = UInt32(b & 0x80) << 24
        let exponent = UInt32(b >> 3) & 0xF
        let mantissa = UInt32(b) & 0x7
        if exponent == 0xF && mantissa == 0x7 { return sign | 0x7FF0_0000 }  // c10 yields this payload
        if exponent == 0 { return sign | (Float(mantissa) * 0x1p-9).bitPattern }
        return sign | ((exponent + 120) << 23) | (mantissa << 20)
    }

    /// The E4M3FN bit pattern nearest to `f` (ties to even).
    public static func e4m3Bits(fromFloat32 f: Float) -> UInt8 {
        var bits = f.bitPattern
        let sign = UInt8(truncatingIfNeeded: bits >> 24) & 0x80
        bits &= 0x7FFF_FFFF
        if bits > 0x7F80_0000 { return sign | 0x7F }  // NaN
        if bits >= 0x43F0_0000 { return sign | 0x7E }  // ≥ 480 and ±Inf saturate to ±448
        if bits < 0x3C80_0000 {  // below 2^-6: subnormal; the FPU rounds at 2^-9 spacing
            let rounded = (Float(bitPattern: bits) + Float(bitPattern: 0x4680_0000)).bitPattern
            return sign | UInt8(truncatingIfNeeded: rounded &- 0x4680_0000)
        }
        let odd = (bits >> 20) & 1
        return sign | min(0x7E, UInt8(truncatingIfNeeded: (bits &+ 0xC407_FFFF &+ odd) >> 20))
    }

    /// The f32 bit pattern of the E5M2 value `b`.
    public static func float32Bits(fromE5M2 b: UInt8) -> UInt32 {
        HalfPrecision.float32Bits(fromFloat16: UInt16(b) << 8)
    }

    /// The E5M2 bit pattern nearest to `f` (ties to even).
    public static func e5m2Bits(fromFloat32 f: Float) -> UInt8 {
        var bits = f.bitPattern
        let sign = UInt8(truncatingIfNeeded: bits >> 24) & 0x80
        bits &= 0x7FFF_FFFF
        if bits >= 0x4780_0000 { return sign | (bits > 0x7F80_0000 ? 0x7F : 0x7C) }  // ≥ 65536
        if bits < 0x3880_0000 {  // below 2^-14: subnormal; the FPU rounds at 2^-16 spacing
            let rounded = (Float(bitPattern: bits) + Float(bitPattern: 0x4300_0000)).bitPattern
            return sign | UInt8(truncatingIfNeeded: rounded &- 0x4300_0000)
        }
        let odd = (bits >> 21) & 1
        return sign | UInt8(truncatingIfNeeded: (bits &+ 0xC80F_FFFF &+ odd) >> 21)
    }

    /// Decoding tables, 256 entries each.
    static let e4m3Table: [UInt32] = (0...255).map { float32Bits(fromE4M3: UInt8($0)) }
    static let e5m2Table: [UInt32] = (0...255).map { float32Bits(fromE5M2: UInt8($0)) }
}
