import MM1Tensor

/// A ggml tensor type id (`enum ggml_type`, ggml.h) and its block geometry.
public struct GGMLType: Sendable, Hashable, CustomStringConvertible {
    /// The id stored in a GGUF tensor info.
    public let id: UInt32

    public init(id: UInt32) { self.id = id }

    public static let f32 = GGMLType(id: 0), f16 = GGMLType(id: 1), q4_0 = GGMLType(id: 2), q4_1 = GGMLType(id: 3)
    public static let q5_0 = GGMLType(id: 6), q5_1 = GGMLType(id: 7), q8_0 = GGMLType(id: 8), q8_1 = GGMLType(id: 9)
    public static let q2_K = GGMLType(id: 10), q3_K = GGMLType(id: 11), q4_K = GGMLType(id: 12), q5_K = GGMLType(id: 13)
    public static let q6_K = GGMLType(id: 14), q8_K = GGMLType(id: 15), iq4_nl = GGMLType(id: 20)
    public static let i8 = GGMLType(id: 24), i16 = GGMLType(id: 25), i32 = GGMLType(id: 26), i64 = GGMLType(id: 27)
    public static let f64 = GGMLType(id: 28), bf16 = GGMLType(id: 30)

    /// (name, elements per block, bytes per block) of every id ggml defines; removed ids have no entry.
    private static let table: [UInt32: (String, Int, Int)] = [
        0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
        7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
        12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
        16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50),
        20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136),
        24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8),
        29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
        39: ("MXFP4", 32, 17),
    ]

    /// Types ggml uses only inside its dot products; a model file holding them is refused.
    private static let intermediate: Set<UInt32> = [9, 15]

    /// The type's name (`Q4_0`), or `type 99` for an id ggml does not define.
    public var description: String { Self.table[id]?.0 ?? "type \(id)" }

    /// True for ids ggml defines for tensors stored in files (not removed, not intermediate-only).
    public var isStorable: Bool { Self.table[id] != nil && !Self.intermediate.contains(id) }

    /// Elements per block (1 for plain types).
    public var blockSize: Int { Self.table[id]?.1 ?? 0 }

    /// Bytes per block.
    public var blockBytes: Int { Self.table[id]?.2 ?? 0 }

    /// The types mm1conv dequantizes (bit-exact with gguf-py's `gguf.quants.dequantize`).
    public var isDequantizable: Bool {
        [0, 1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 20, 24, 25, 26, 27, 28, 30].contains(id)
    }

    /// The safetensors dtype holding this type's elements unchanged, for plain (non-block) types.
    public var plainDType: DType? {
        switch id {
        case 0: .f32
        case 1: .f16
        case 24: .i8
        case 25: .i16
        case 26: .i32
        case 27: .i64
        case 28: .f64
        case 30: .bf16
        default: nil
        }
    }
}
