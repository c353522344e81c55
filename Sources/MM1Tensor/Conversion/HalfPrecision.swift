/// Bit-exact IEEE binary16 and bfloat16 conversions, matching PyTorch.
///
/// Each conversion exists as a scalar function (the definition, easy to read) and a form the bulk
/// converters run (f16 → f32 branch-free so loops vectorise; f32 → f16/bf16 in 8 SIMD lanes); tests
/// check both against every bit pattern produced by
/// torch. The rules PyTorch follows (c10 `Half.h`, `BFloat16.h`, and the F16C instructions its
/// vectorised kernels use):
/// 1. f16 → f32 is exact; a signalling NaN comes back quiet (bit 22 set), payload kept.
/// 2. f32 → f16 rounds to nearest, ties to even; overflow gives ±Inf; f32 subnormals round to f16
///    subnormals or zero; a NaN keeps its sign, is made quiet, and keeps the top 9 payload bits.
/// 3. bf16 → f32 is the 16-bit shift (payload and signalling bit kept).
/// 4. f32 → bf16 rounds to nearest, ties to even; any NaN becomes `0xFFFF`. (torch 2.15's CPU
///    kernels do this, measured by the golden fixtures; c10's scalar `round_to_nearest_even` returns
///    `0x7FC0`. The measured behaviour wins.)
public enum HalfPrecision {
    // MARK: f16

    /// The f32 bit pattern of the f16 value `h`.
    @inlinable
    public static func float32Bits(fromFloat16 h: UInt16) -> UInt32 {
        let h32 = UInt32(h)
        let sign = (h32 & 0x8000) << 16
        let exponent = (h32 >> 10) & 0x1F
        let mantissa = h32 & 0x3FF
        switch exponent {
        case 0x1F:
            return sign | 0x7F80_0000 | (mantissa << 13) | (mantissa != 0 ? 0x0040_0000 : 0)
        case 0:
            // Subnormal or zero: value = mantissa · 2^-24, exact in f32.
            return sign | (Float(mantissa) * 0x1p-24).bitPattern
        default:
            return sign | ((exponent + 112) << 23) | (mantissa << 13)
        }
    }

    /// The f16 bit pattern nearest to `f` (ties to even).
    @inlinable
    public static func float16Bits(fromFloat32 f: Float) -> UInt16 {
        let w = f.bitPattern
        let sign = UInt16(truncatingIfNeeded: (w & 0x8000_0000) >> 16)
        let magnitude = w & 0x7FFF_FFFF
        if magnitude > 0x7F80_0000 {  // NaN: quiet, top payload bits kept
            return sign | 0x7E00 | UInt16(truncatingIfNeeded: (magnitude >> 13) & 0x3FF)
        }
        return sign | float16MagnitudeBits(magnitude)
    }

    /// Rounds a non-NaN f32 magnitude (bits without sign) to f16 bits, ties to even.
    @inlinable
    static func float16MagnitudeBits(_ magnitude: UInt32) -> UInt16 {
        if magnitude >= 0x4780_0000 { return 0x7C00 }  // ≥ 65536 (incl. Inf) → Inf
        if magnitude < 0x3880_0000 {  // below 2^-14: subnormal f16; adding 0.5 rounds in the FPU
            let value = Float(bitPattern: magnitude) + 0.5
            return UInt16(truncatingIfNeeded: value.bitPattern &- 0x3F00_0000)
        }
        let odd = (magnitude >> 13) & 1
        let rounded = magnitude &+ 0xC800_0FFF &+ odd  // rebias exponent (−112 << 23) and round
        return UInt16(truncatingIfNeeded: rounded >> 13)
    }

    // MARK: bf16

    /// The f32 bit pattern of the bf16 value `b`.
    @inlinable
    public static func float32Bits(fromBFloat16 b: UInt16) -> UInt32 { UInt32(b) << 16 }

    /// The bf16 bit pattern nearest to `f` (ties to even); NaN becomes `0xFFFF`.
    @inlinable
    public static func bfloat16Bits(fromFloat32 f: Float) -> UInt16 {
        let w = f.bitPattern
        if w & 0x7FFF_FFFF > 0x7F80_0000 { return 0xFFFF }
        return UInt16(truncatingIfNeeded: (w &+ 0x7FFF &+ ((w >> 16) & 1)) >> 16)
    }

    /// The same result as ``float32Bits(fromFloat16:)-(UInt16)`` written with selects instead of
    /// branches, so that the compiler vectorises loops over it.
    @inlinable @inline(__always)
    public static func float32BitsBranchFree(fromFloat16 h: UInt16) -> UInt32 {
        let h32 = UInt32(h)
        let o = (h32 & 0x7FFF) &<< 13
        let exponent = o & 0x0F80_0000
        let normal = o &+ 0x3800_0000
        let special = (normal &+ 0x3800_0000) | ((h32 & 0x3FF) != 0 ? 0x0040_0000 : 0)
        let subnormal = (Float(bitPattern: normal &+ 0x0080_0000) - Float(bitPattern: 0x3880_0000)).bitPattern
        let magnitude = exponent == 0x0F80_0000 ? special : (exponent == 0 ? subnormal : normal)
        return magnitude | ((h32 & 0x8000) &<< 16)
    }

    // MARK: 8-lane versions

    /// Eight f32 → eight f16 bit patterns (same rules as the scalar function).
    @inlinable @inline(__always)
    public static func float16Bits(fromFloat32 f: SIMD8<Float>) -> SIMD8<UInt16> {
        let w = unsafeBitCast(f, to: SIMD8<UInt32>.self)
        let magnitude = w & 0x7FFF_FFFF
        // Normal range: rebias and round to nearest even in integer arithmetic.
        var result = (magnitude &+ 0xC800_0FFF &+ ((magnitude &>> 13) & 1)) &>> 13
        // Subnormal range: let the FPU round (x + 0.5 has the f16 subnormal code in its low bits).
        let sub = unsafeBitCast(unsafeBitCast(magnitude, to: SIMD8<Float>.self) + 0.5, to: SIMD8<UInt32>.self) &- 0x3F00_0000
        result.replace(with: sub, where: magnitude .< 0x3880_0000)
        result.replace(with: 0x7C00, where: magnitude .>= 0x4780_0000)
        result.replace(with: 0x7E00 | ((magnitude &>> 13) & 0x3FF), where: magnitude .> 0x7F80_0000)
        return SIMD8<UInt16>(truncatingIfNeeded: result | ((w &>> 16) & 0x8000))
    }

    /// Eight f32 → eight bf16 bit patterns (same rules as the scalar function).
    @inlinable @inline(__always)
    public static func bfloat16Bits(fromFloat32 f: SIMD8<Float>) -> SIMD8<UInt16> {
        let w = unsafeBitCast(f, to: SIMD8<UInt32>.self)
        var r = (w &+ 0x7FFF &+ ((w &>> 16) & 1)) &>> 16
        r.replace(with: 0xFFFF, where: (w & 0x7FFF_FFFF) .> 0x7F80_0000)
        return SIMD8<UInt16>(truncatingIfNeeded: r)
    }
}
