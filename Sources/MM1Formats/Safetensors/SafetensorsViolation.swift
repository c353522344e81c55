import MM1Tensor
/// One rule of the safetensors format, broken. The rules are those the Rust reference enforces
/// (`SafeTensors::read_metadata`, `Metadata::validate`), plus the ones its README states but the
/// reference does not check (duplicate names).
public enum SafetensorsViolation: Sendable, Equatable, CustomStringConvertible {
    /// The file is shorter than the 8-byte header length.
    case truncatedHeaderLength(fileSize: Int)
    /// The declared header length exceeds ``ReadLimits/maxHeaderBytes``.
    case headerTooLarge(declared: UInt64, limit: Int)
    /// The declared header runs past the end of the file.
    case headerTruncated(declared: UInt64, available: Int)
    /// The header is not UTF-8 or not JSON.
    case headerNotJSON(JSONError)
    /// The header's JSON is not an object.
    case headerNotObject(found: String)
    /// `__metadata__` is not an object of strings.
    case invalidMetadata(String)
    /// A tensor entry is not an object, or lacks `dtype`, `shape` or `data_offsets`.
    case invalidTensorEntry(String)
    /// A name appears twice in the header.
    case duplicateTensorName
    /// The dtype string is not one safetensors defines.
    case unknownDType(String)
    /// The shape is not an array of non-negative integers, or has too many dimensions.
    case invalidShape(String)
    /// `data_offsets` is not two non-negative integers with begin ≤ end.
    case invalidOffsets(String)
    /// The element count times the dtype's width overflows.
    case sizeOverflow(shape: [String])
    /// A sub-byte dtype whose elements do not fill whole bytes.
    case misalignedSubByte(elements: Int, dtype: DType)
    /// The byte span disagrees with shape × dtype width.
    case byteCountMismatch(expected: Int, declared: Int)
    /// A tensor starts after the previous one ended: the buffer has a hole.
    case dataGap(expectedStart: Int, start: Int)
    /// A tensor starts before the previous one ended: two tensors share bytes.
    case dataOverlap(previousEnd: Int, start: Int)
    /// Bytes remain after the last tensor (the buffer must be covered exactly).
    case trailingBytes(dataEnd: Int, available: Int)
    /// The file ends before the last tensor does.
    case dataTruncated(dataEnd: Int, available: Int)

    /// A stable name for the rule, used in JSON output and the malformed corpus (`"dataGap"`).
    public var code: String {
        switch self {
        case .truncatedHeaderLength: "truncatedHeaderLength"
        case .headerTooLarge: "headerTooLarge"
        case .headerTruncated: "headerTruncated"
        case .headerNotJSON: "headerNotJSON"
        case .headerNotObject: "headerNotObject"
        case .invalidMetadata: "invalidMetadata"
        case .invalidTensorEntry: "invalidTensorEntry"
        case .duplicateTensorName: "duplicateTensorName"
        case .unknownDType: "unknownDType"
        case .invalidShape: "invalidShape"
        case .invalidOffsets: "invalidOffsets"
        case .sizeOverflow: "sizeOverflow"
        case .misalignedSubByte: "misalignedSubByte"
        case .byteCountMismatch: "byteCountMismatch"
        case .dataGap: "dataGap"
        case .dataOverlap: "dataOverlap"
        case .trailingBytes: "trailingBytes"
        case .dataTruncated: "dataTruncated"
        }
    }

    public var description: String {
        switch self {
        case .truncatedHeaderLength(let n): "file of \(n) bytes is shorter than the 8-byte header length"
        case .headerTooLarge(let d, let l): "declared header length \(d) exceeds the limit of \(l) bytes"
        case .headerTruncated(let d, let a): "declared header length \(d) runs past the end of the file (\(a) bytes after the length)"
        case .headerNotJSON(let e): "header is not valid JSON: \(e)"
        case .headerNotObject(let k): "header must be a JSON object, found \(k)"
        case .invalidMetadata(let why): "invalid __metadata__: \(why)"
        case .invalidTensorEntry(let why): "invalid tensor entry: \(why)"
        case .duplicateTensorName: "name appears more than once in the header"
        case .unknownDType(let s): "unknown dtype \"\(s)\""
        case .invalidShape(let why): "invalid shape: \(why)"
        case .invalidOffsets(let why): "invalid data_offsets: \(why)"
        case .sizeOverflow(let s): "size of shape [\(s.joined(separator: ", "))] overflows"
        case .misalignedSubByte(let n, let t): "\(n) elements of \(t) do not fill whole bytes"
        case .byteCountMismatch(let e, let d): "data_offsets span \(d) bytes but dtype × shape needs \(e)"
        case .dataGap(let e, let s): "data starts at \(s) but the previous tensor ends at \(e) (hole in the buffer)"
        case .dataOverlap(let e, let s): "data starts at \(s), inside the previous tensor which ends at \(e) (overlap)"
        case .trailingBytes(let end, let a): "tensors end at data byte \(end) but the file has \(a) data bytes (trailing bytes)"
        case .dataTruncated(let end, let a): "tensors end at data byte \(end) but the file has only \(a) data bytes (truncated)"
        }
    }
}
