import CKernels
import Dispatch
import MM1Tensor

/// Dequantization of ggml blocks to f32, bit-exact with gguf-py's `gguf.quants.dequantize` (and
/// ggml's `dequantize_row_*`): the formulas of ggml-common.h / ggml-quants.c, evaluated in f32 in the
/// same order (gguf-py `gguf/quants.py`). Blocks are independent, so large tensors are split over the cores.
public enum GGUFDequantizer {
    /// Dequantizes `source` (whole blocks of `type`) into `destination` (`blocks × blockSize` floats).
    /// Plain types are converted (F16, BF16, F64, integers) or copied (F32).
    public static func dequantize(_ type: GGMLType, _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableBufferPointer<Float>) {
        if let dtype = type.plainDType {
            try! DTypeConversion.toFloat32(source, dtype: dtype, into: destination)  // sizes checked by the reader
            return
        }
        guard let decode = decoder(type) else { preconditionFailure("\(type) is not dequantizable") }
        let blockBytes = type.blockBytes, blockSize = type.blockSize
        let blocks = destination.count / blockSize
        precondition(source.count == blocks * blockBytes)
        guard let src = source.baseAddress, let dst = destination.baseAddress else { return }
        let chunks = blocks >= 4096 ? min(blocks / 1024, ProcessorCount.active) : 1
        nonisolated(unsafe) let (s, d) = (src, dst)
        let vectorised = vectorKernel(type)
        let run: @Sendable (Int) -> Void = { c in
            let range = (blocks * c / chunks)..<(blocks * (c + 1) / chunks)
            if let vectorised, vectorised(s + range.lowerBound * blockBytes, d + range.lowerBound * blockSize, range.count) == range.count { return }
            for b in range { decode(s + b * blockBytes, d + b * blockSize) }
        }
        if chunks == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: chunks, execute: run) }
    }

    typealias BlockDecoder = @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void

    /// The AVX2 kernels (same products, in the same order, as the scalar decoders below) where CKernels has
    /// one; they return 0 on CPUs without AVX2/F16C and the scalar decoder runs instead.
    static func vectorKernel(_ type: GGMLType) -> (@Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>, Int) -> Int)? {
        switch type.id {
        case GGMLType.q8_0.id: { mm1_dequantize_q8_0($0, $1, $2) }
        case GGMLType.q4_0.id: { mm1_dequantize_q4_0($0, $1, $2) }
        default: nil
        }
    }

    static func decoder(_ type: GGMLType) -> BlockDecoder? {
        switch type.id {
        case GGMLType.q4_0.id: q4_0
        case GGMLType.q4_1.id: q4_1
        case GGMLType.q5_0.id: q5_0
        case GGMLType.q5_1.id: q5_1
        case GGMLType.q8_0.id: q8_0
        case GGMLType.q2_K.id: q2_K
        case GGMLType.q3_K.id: q3_K
        case GGMLType.q4_K.id: q4_K
        case GGMLType.q5_K.id: q5_K
        case GGMLType.q6_K.id: q6_K
        case GGMLType.iq4_nl.id: iq4_nl
        default: nil
        }
    }

    @inline(__always) static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(bitPattern: HalfPrecision.float32Bits(fromFloat16: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self).littleEndian))
    }

    @inline(__always) static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> Int { Int(p.load(fromByteOffset: offset, as: UInt8.self)) }

    /// `d:f16, qs[16]`: `x[j] = (lo(qs[j]) − 8)·d`, `x[j+16] = (hi(qs[j]) − 8)·d`.
    static let q4_0: BlockDecoder = { p, x in
        let d = half(p, 0)
        for j in 0..<16 {
            let q = byte(p, 2 + j)
            x[j] = Float((q & 0xF) - 8) * d
            x[j + 16] = Float((q >> 4) - 8) * d
        }
    }

    /// llama.cpp's IQ4_NL levels (`kvalues_iq4nl`, ggml-common.h).
    public static let iq4nlGrid: [Float] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

    /// `d:f16, qs[16]`: `x[j] = d·grid[lo(qs[j])]`, `x[j+16] = d·grid[hi(qs[j])]`.
    static let iq4_nl: BlockDecoder = { p, x in
        let d = half(p, 0)
        for j in 0..<16 {
            let q = byte(p, 2 + j)
            x[j] = d * iq4nlGrid[q & 0xF]
            x[j + 16] = d * iq4nlGrid[q >> 4]
        }
    }

    /// `d, m:f16, qs[16]`: `x = q·d + m`.
    static let q4_1: BlockDecoder = { p, x in
        let d = half(p, 0), m = half(p, 2)
        for j in 0..<16 {
            let q = byte(p, 4 + j)
            x[j] = Float(q & 0xF) * d + m
            x[j + 16] = Float(q >> 4) * d + m
        }
    }

    /// `d:f16, qh:u32, qs[16]`: a fifth bit per element from `qh`, `x = (q − 16)·d`.
    static let q5_0: BlockDecoder = { p, x in
        let d = half(p, 0)
        let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        for j in 0..<16 {
            let q = byte(p, 6 + j)
            let h0 = Int((qh >> UInt32(j)) & 1) << 4, h1 = Int((qh >> UInt32(j + 16)) & 1) << 4
            x[j] = Float(((q & 0xF) | h0) - 16) * d
            x[j + 16] = Float(((q >> 4) | h1) - 16) * d
        }
    }

    /// `d, m:f16, qh:u32, qs[16]`: `x = q·d + m` with 5-bit q.
    static let q5_1: BlockDecoder = { p, x in
        let d = half(p, 0), m = half(p, 2)
        let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        for j in 0..<16 {
            let q = byte(p, 8 + j)
            let h0 = Int((qh >> UInt32(j)) & 1) << 4, h1 = Int((qh >> UInt32(j + 16)) & 1) << 4
            x[j] = Float((q & 0xF) | h0) * d + m
            x[j + 16] = Float((q >> 4) | h1) * d + m
        }
    }

    /// `d:f16, qs:int8[32]`: `x = q·d`.
    static let q8_0: BlockDecoder = { p, x in
        let d = half(p, 0)
        for j in 0..<32 { x[j] = Float(p.load(fromByteOffset: 2 + j, as: Int8.self)) * d }
    }

    /// 256 elements, 16 sub-blocks: `scales[16] @0, qs[64] @16, d @80, dmin @82`.
    static let q2_K: BlockDecoder = { p, x in
        let d = half(p, 80), dmin = half(p, 82)
        for e in 0..<256 {
            let c = e / 128, g = (e % 128) / 32, h = (e % 32) / 16, l = e % 16
            let q = (byte(p, 16 + 32 * c + 16 * h + l) >> (2 * g)) & 3
            let s = byte(p, 8 * c + 2 * g + h)
            x[e] = (d * Float(s & 0xF)) * Float(q) - dmin * Float(s >> 4)
        }
    }

    /// 256 elements: `hmask[32] @0, qs[64] @32, scales[12] @96 (6-bit, signed −32), d @108`.
    static let q3_K: BlockDecoder = { p, x in
        let d = half(p, 108)
        var sc = [Int](repeating: 0, count: 16)
        for j in 0..<16 {
            let lo = j < 8 ? byte(p, 96 + j) & 0xF : byte(p, 96 + j - 8) >> 4
            let hi = (byte(p, 96 + 8 + j % 4) >> (2 * (j / 4))) & 3
            sc[j] = (lo | hi << 4) - 32
        }
        for e in 0..<256 {
            let c = e / 128, g = (e % 128) / 32, h = (e % 32) / 16, l = e % 16, i = 16 * h + l
            let q = (byte(p, 32 + 32 * c + i) >> (2 * g)) & 3
            let hbit = (byte(p, i) >> (4 * c + g)) & 1
            x[e] = (d * Float(sc[8 * c + 2 * g + h])) * Float(q - (hbit == 1 ? 0 : 4))
        }
    }

    /// The 6-bit scale and min of sub-block `j` packed in 12 bytes at `q` (`get_scale_min_k4`).
    @inline(__always) static func scaleMin(_ p: UnsafeRawPointer, _ q: Int, _ j: Int) -> (Int, Int) {
        j < 4 ? (byte(p, q + j) & 63, byte(p, q + j + 4) & 63)
            : ((byte(p, q + j + 4) & 0xF) | (byte(p, q + j - 4) >> 6) << 4, (byte(p, q + j + 4) >> 4) | (byte(p, q + j) >> 6) << 4)
    }

    /// 256 elements, 8 sub-blocks of 32: `d @0, dmin @2, scales[12] @4, qs[128] @16`.
    static let q4_K: BlockDecoder = { p, x in
        let d = half(p, 0), dmin = half(p, 2)
        for e in 0..<256 {
            let c = e / 64, h = (e % 64) / 32, l = e % 32
            let q = (byte(p, 16 + 32 * c + l) >> (4 * h)) & 0xF
            let (sc, m) = scaleMin(p, 4, 2 * c + h)
            x[e] = (d * Float(sc)) * Float(q) - dmin * Float(m)
        }
    }

    /// As Q4_K plus a fifth bit: `d @0, dmin @2, scales[12] @4, qh[32] @16, qs[128] @48`.
    static let q5_K: BlockDecoder = { p, x in
        let d = half(p, 0), dmin = half(p, 2)
        for e in 0..<256 {
            let c = e / 64, h = (e % 64) / 32, l = e % 32
            var q = (byte(p, 48 + 32 * c + l) >> (4 * h)) & 0xF
            if (byte(p, 16 + l) >> (2 * c + h)) & 1 == 1 { q += 16 }
            let (sc, m) = scaleMin(p, 4, 2 * c + h)
            x[e] = (d * Float(sc)) * Float(q) - dmin * Float(m)
        }
    }

    /// 256 elements, 16 sub-blocks: `ql[128] @0, qh[64] @128, scales:int8[16] @192, d @208`.
    static let q6_K: BlockDecoder = { p, x in
        let d = half(p, 208)
        for e in 0..<256 {
            let c = e / 128, r = e % 128, k = r / 32, l = r % 32
            let low = (byte(p, 64 * c + l + 32 * (k & 1)) >> (4 * (k >> 1))) & 0xF
            let high = (byte(p, 128 + 32 * c + l) >> (2 * k)) & 3
            let scale = Int(p.load(fromByteOffset: 192 + 8 * c + 2 * k + l / 16, as: Int8.self))
            x[e] = (d * Float(scale)) * Float((low | high << 4) - 32)
        }
    }
}
