/// One rule of the GGUF format (ggml's `gguf_init_from_reader`, docs/gguf.md), broken. Every
/// length and count is checked against the bytes left in the file before anything is allocated.
public enum GGUFViolation: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file ends inside `what`.
    case truncated(String)
    /// The first four bytes are not `GGUF`.
    case badMagic
    /// Versions 2 and 3 are read; 1 (32-bit counts), others and byte-swapped files are not.
    case unsupportedVersion(UInt32)
    /// A tensor or key/value count larger than the rest of the file could hold.
    case countTooLarge(what: String, count: UInt64)
    /// A string length past the end of the file (or over 1 GiB).
    case stringTooLong(UInt64)
    /// An array's element count × element size past the end of the file (or over 2^30 elements).
    case arrayTooLarge(UInt64)
    /// A metadata value type id ggml does not define.
    case unknownValueType(UInt32)
    /// Arrays nested deeper than ``GGUFFile/maxNesting``.
    case nestingTooDeep(Int)
    /// A key or a tensor name that is not valid UTF-8 (or a name of 64 bytes or more, as ggml refuses).
    case invalidName(String)
    /// A string value that is not valid UTF-8.
    case invalidUTF8
    /// A key that appears twice.
    case duplicateKey
    /// A tensor name that appears twice.
    case duplicateTensor
    /// `n_dims` is 0 or above 4, or a dimension is zero-or-negative where ggml refuses it.
    case badDimensions(String)
    /// The element count or byte size does not fit in 63 bits.
    case shapeOverflow
    /// A ggml type id that is unknown, removed or only used inside ggml's dot products.
    case unknownGGMLType(UInt32)
    /// The row length `ne[0]` is not a multiple of the type's block size.
    case rowNotBlockMultiple(rowLength: Int, blockSize: Int)
    /// `general.alignment` is not a non-zero power of two, or not a u32.
    case badAlignment(String)
    /// A tensor's offset is not a multiple of the alignment.
    case misalignedOffset(offset: UInt64, alignment: Int)
    /// A tensor's bytes extend past the end of the file.
    case offsetOutOfBounds(offset: UInt64, bytes: Int, dataSize: Int)
    /// Two tensors share bytes.
    case overlappingTensors(other: String)

    /// The category name used by the malformed corpus (`Tests/Fixtures/gguf/malformed/MANIFEST.json`).
    public var category: String {
        switch self {
        case .truncated: "truncated"
        case .badMagic: "bad_magic"
        case .unsupportedVersion: "unsupported_version"
        case .countTooLarge: "count_too_large"
        case .stringTooLong: "string_too_long"
        case .arrayTooLarge: "array_too_large"
        case .unknownValueType: "unknown_value_type"
        case .nestingTooDeep: "nesting_too_deep"
        case .invalidName(let why): why.hasPrefix("64") ? "string_too_long" : "invalid_utf8"
        case .invalidUTF8: "invalid_utf8"
        case .duplicateKey: "duplicate_key"
        case .duplicateTensor: "duplicate_tensor"
        case .badDimensions: "bad_dimensions"
        case .shapeOverflow: "shape_overflow"
        case .unknownGGMLType: "unknown_ggml_type"
        case .rowNotBlockMultiple: "row_not_block_multiple"
        case .badAlignment: "bad_alignment"
        case .misalignedOffset: "misaligned_offset"
        case .offsetOutOfBounds: "offset_out_of_bounds"
        case .overlappingTensors: "overlapping_tensors"
        }
    }

    public var description: String {
        switch self {
        case .truncated(let what): "GGUF file ends inside \(what)"
        case .badMagic: "not a GGUF file (magic is not \"GGUF\")"
        case .unsupportedVersion(let v):
            v & 0xFFFF == 0 && v != 0 ? "GGUF version \(v) looks byte-swapped (big-endian files are not supported)"
                : "GGUF version \(v) is not supported (2 and 3 are)"
        case .countTooLarge(let what, let count): "\(what) count \(count) is larger than the file could hold"
        case .stringTooLong(let n): "string length \(n) runs past the end of the file"
        case .arrayTooLarge(let n): "array of \(n) elements runs past the end of the file"
        case .unknownValueType(let t): "unknown metadata value type \(t)"
        case .nestingTooDeep(let d): "arrays nested deeper than \(d) levels"
        case .invalidName(let why): "name \(why)"
        case .invalidUTF8: "string value is not valid UTF-8"
        case .duplicateKey: "duplicate metadata key"
        case .duplicateTensor: "duplicate tensor name"
        case .badDimensions(let why): "bad dimensions: \(why)"
        case .shapeOverflow: "element count or byte size overflows"
        case .unknownGGMLType(let t): "ggml type \(GGMLType(id: t)) cannot be stored in a model file (unknown, removed or intermediate-only)"
        case .rowNotBlockMultiple(let n, let b): "row length \(n) is not a multiple of the block size \(b)"
        case .badAlignment(let why): "general.alignment \(why)"
        case .misalignedOffset(let o, let a): "offset \(o) is not a multiple of the alignment \(a)"
        case .offsetOutOfBounds(let o, let n, let size): "\(n) bytes at offset \(o) run past the data section (\(size) bytes)"
        case .overlappingTensors(let other): "shares bytes with tensor '\(other)'"
        }
    }
}
