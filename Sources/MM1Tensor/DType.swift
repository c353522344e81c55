/// An element type of a stored tensor, spelled as safetensors spells it.
///
/// The raw value is the on-disk dtype string of the safetensors header, which is case-sensitive
/// (`"F32"` is a dtype, `"f32"` is not). Cases are declared in the order of the Rust reference's
/// `enum Dtype` ("increasing alignment order"), which the writer's sort relies on.
///
/// Types whose elements are narrower than a byte (`F4`, `F6_*`) are known so that files holding
/// them can be opened and inspected; converting them is not supported.
public enum DType: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    case bool = "BOOL"
    case f4 = "F4"
    case f6E2M3 = "F6_E2M3"
    case f6E3M2 = "F6_E3M2"
    case u8 = "U8"
    case i8 = "I8"
    case f8E5M2 = "F8_E5M2"
    case f8E4M3 = "F8_E4M3"
    case f8E8M0 = "F8_E8M0"
    case f8E4M3FNUZ = "F8_E4M3FNUZ"
    case f8E5M2FNUZ = "F8_E5M2FNUZ"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case c64 = "C64"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    /// The safetensors spelling, e.g. `"BF16"`.
    public var description: String { rawValue }

    /// Bits one element occupies in storage.
    public var bitWidth: Int {
        switch self {
        case .f4: 4
        case .f6E2M3, .f6E3M2: 6
        case .bool, .u8, .i8, .f8E5M2, .f8E4M3, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ: 8
        case .i16, .u16, .f16, .bf16: 16
        case .i32, .u32, .f32: 32
        case .c64, .f64, .i64, .u64: 64
        }
    }

    /// Bytes per element, or `nil` for sub-byte types whose byte count depends on the element count.
    public var byteWidth: Int? { bitWidth % 8 == 0 ? bitWidth / 8 : nil }

    /// Position in the reference's declaration order; the writer sorts by it (descending) so that
    /// every tensor starts at a multiple of its element size without padding.
    public var alignmentRank: Int { DType.allCases.firstIndex(of: self)! }

    /// Whether ``DTypeConversion`` can convert this type to and from `Float`.
    public var isConvertible: Bool {
        switch self {
        case .f4, .f6E2M3, .f6E3M2, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ, .c64: false
        default: true
        }
    }

    /// Whether elements are floating-point numbers (as opposed to integers or booleans).
    public var isFloatingPoint: Bool {
        switch self {
        case .bool, .u8, .i8, .i16, .u16, .i32, .u32, .i64, .u64: false
        default: true
        }
    }

    /// Parses a dtype string exactly (case-sensitive), as the safetensors reader does.
    public init?(safetensorsName: String) {
        guard let dtype = Self.byName[safetensorsName] else { return nil }
        self = dtype
    }

    private static let byName: [String: DType] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })

    /// ``init(safetensorsName:)`` on the name's UTF-8 bytes, without making a string: every name is at
    /// most 16 bytes, so it is compared as two words.
    public init?(safetensorsNameBytes bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= 16, case let key = Self.pack(bytes), let dtype = Self.packedNames.first(where: { $0.name == key })?.dtype else { return nil }
        self = dtype
    }

    private static func pack(_ bytes: UnsafeRawBufferPointer) -> (UInt64, UInt64, Int) {
        var words: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes.prefix(16))) }
        return (words.0, words.1, bytes.count)
    }

    private static let packedNames: [(name: (UInt64, UInt64, Int), dtype: DType)] = allCases.map { dtype in
        var name = dtype.rawValue
        return (name.withUTF8 { pack(UnsafeRawBufferPointer($0)) }, dtype)
    }
}
