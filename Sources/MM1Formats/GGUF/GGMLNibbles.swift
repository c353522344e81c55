/// The two orders of a 32-element group's 4-bit codes in 16 bytes: mm1conv's (and MLX's) pairs — element
/// `2i` in the low nibble of byte `i`, `2i + 1` in its high nibble — and ggml's Q4_0 halves — element `k < 16`
/// in the low nibble of byte `k`, element `k + 16` in its high nibble. Exports and GGUF imports convert
/// between them here, without requantizing.
public enum GGMLNibbles {
    /// ggml's 16 code bytes from 16 bytes of pairs.
    public static func ggmlOrder(fromPairs pairs: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        precondition(pairs.count == 16 && out.count == 16)
        func code(_ e: Int) -> UInt8 { (pairs[e / 2] >> (4 * UInt8(e % 2))) & 15 }
        for k in 0..<16 { out[k] = code(k) | code(k + 16) << 4 }
    }

    /// 16 bytes of pairs from ggml's 16 code bytes.
    public static func pairs(fromGGML ggml: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        precondition(ggml.count == 16 && out.count == 16)
        func code(_ e: Int) -> UInt8 { e < 16 ? ggml[e] & 15 : ggml[e - 16] >> 4 }
        for k in 0..<16 { out[k] = code(2 * k) | code(2 * k + 1) << 4 }
    }
}
