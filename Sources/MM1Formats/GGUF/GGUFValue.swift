/// A GGUF metadata value (`enum gguf_type`): scalars, strings and (possibly nested) arrays.
public indirect enum GGUFValue: Sendable, Equatable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), uint64(UInt64), int64(Int64), float64(Double)
    /// An array: its element type id and its elements.
    case array(elementType: UInt32, [GGUFValue])

    /// GGUF's name for the value's type (`UINT32`, `ARRAY`, …).
    public var typeName: String { Self.typeNames[Int(typeID)] }

    /// The value type id.
    public var typeID: UInt32 {
        switch self {
        case .uint8: 0
        case .int8: 1
        case .uint16: 2
        case .int16: 3
        case .uint32: 4
        case .int32: 5
        case .float32: 6
        case .bool: 7
        case .string: 8
        case .array: 9
        case .uint64: 10
        case .int64: 11
        case .float64: 12
        }
    }

    static let typeNames = ["UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"]

    /// Byte size of a scalar of type `id` (nil for strings and arrays).
    static func scalarSize(_ id: UInt32) -> Int? {
        switch id {
        case 0, 1, 7: 1
        case 2, 3: 2
        case 4, 5, 6: 4
        case 10, 11, 12: 8
        default: nil
        }
    }

    /// The value as an integer, when it is one (any width, non-negative for unsigned types).
    public var integer: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): v <= UInt64(Int.max) ? Int(v) : nil
        case .int64(let v): Int(v)
        default: nil
        }
    }

    /// The value as a floating-point number, when it is a number. A FLOAT32 gives the shortest decimal
    /// that rounds to it (1e-5 stored as f32 reads as 1e-5, not 9.99999974e-06): what its writer meant.
    public var number: Double? {
        switch self {
        case .float32(let v): Double(v.description) ?? Double(v)
        case .float64(let v): v
        default: integer.map(Double.init)
        }
    }

    /// The value as a string, when it is one.
    public var string: String? { if case .string(let s) = self { s } else { nil } }

    /// A one-line rendering; arrays longer than eight elements are summarised (`[32000 × STRING: "<unk>", "<s>", …]`).
    public var description: String {
        switch self {
        case .uint8(let v): "\(v)"
        case .int8(let v): "\(v)"
        case .uint16(let v): "\(v)"
        case .int16(let v): "\(v)"
        case .uint32(let v): "\(v)"
        case .int32(let v): "\(v)"
        case .float32(let v): "\(v)"
        case .bool(let v): "\(v)"
        case .string(let s): s.debugDescription.count > 80 ? String(s.debugDescription.prefix(77)) + "…\"" : s.debugDescription
        case .uint64(let v): "\(v)"
        case .int64(let v): "\(v)"
        case .float64(let v): "\(v)"
        case .array(let type, let values):
            values.count <= 8 ? "[" + values.map(\.description).joined(separator: ", ") + "]"
                : "[\(values.count) × \(Self.typeNames[min(Int(type), 12)]): " + values.prefix(3).map(\.description).joined(separator: ", ") + ", …]"
        }
    }
}
