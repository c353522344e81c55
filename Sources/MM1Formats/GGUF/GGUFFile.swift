import MM1Tensor

/// One tensor of a GGUF file as the file describes it.
public struct GGUFTensor: Sendable, Equatable {
    /// The tensor's name (`blk.0.attn_q.weight`).
    public let name: String
    /// Its ggml type.
    public let type: GGMLType
    /// `ne`, innermost (contiguous) dimension first, as stored.
    public let dimensions: [Int]
    /// Offset of its bytes from the start of the data section.
    public let offset: Int
    /// Its size in bytes.
    public let byteCount: Int

    /// The shape outermost first (the reverse of ``dimensions``): numpy/PyTorch order.
    public var shape: [Int] { dimensions.reversed() }
    /// Number of elements.
    public var elementCount: Int { dimensions.reduce(1, *) }
}

/// A GGUF file (v2 or v3), memory-mapped and validated before any tensor is read: header, every
/// metadata value (nested arrays included, up to ``maxNesting`` levels), tensor infos, alignment and
/// data section. Every count and length is checked against the bytes left in the file before anything
/// is allocated (llama.cpp's parser had heap overflows from exactly these).
///
/// As a ``TensorSource``, plain tensors (F32, F16, BF16, F64, integers) are zero-copy views of the
/// mapping; block-quantized ones (Q4_0 … Q6_K) are dequantized to F32 when viewed, so mapping, import and
/// verification need no GGUF-specific code. ``ggufTensors`` keeps the stored types.
public final class GGUFFile: TensorSource, @unchecked Sendable {
    /// Deepest array nesting accepted (the spec allows nesting; ggml allows none).
    public static let maxNesting = 8
    /// Longest string accepted (ggml's `GGUF_MAX_STRING_LENGTH`).
    public static let maxStringBytes = 1 << 30
    /// Most array elements accepted (ggml's `GGUF_MAX_ARRAY_ELEMENTS`).
    public static let maxArrayElements = 1 << 30

    public let path: String
    public let mapping: MappedFile
    /// 2 or 3.
    public let version: UInt32
    /// Every key/value pair, in file order.
    public let metadataEntries: [(key: String, value: GGUFValue)]
    /// Every tensor, in file order.
    public let ggufTensors: [GGUFTensor]
    /// `general.alignment`, or 32.
    public let alignment: Int
    /// File offset of the data section.
    public let dataOffset: Int
    private let index: [String: Int]
    private let values: [String: GGUFValue]

    /// True when `bytes` begin with the GGUF magic.
    public static func hasMagic(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x47 && bytes[1] == 0x47 && bytes[2] == 0x55 && bytes[3] == 0x46
    }

    public init(path: String) throws {
        self.path = path
        mapping = try MappedFile(path: path)
        let bytes = mapping.bytes
        func fail(_ v: GGUFViolation, tensor: String? = nil, key: String? = nil) -> FormatError {
            FormatError(.gguf(v), file: path, tensor: tensor, key: key)
        }
        let header = try GGUFHeader(parsing: bytes, partial: false, file: path)
        version = header.version
        metadataEntries = header.entries
        values = header.values
        alignment = header.alignment
        let tensors = header.tensors
        let index = header.index
        // ggml pads to the alignment only when there are tensors; a file without any may just end.
        let padded = header.dataOffset
        guard padded <= bytes.count || tensors.isEmpty else { throw fail(.truncated("the padding before the data section")) }
        dataOffset = min(padded, bytes.count)
        let dataSize = bytes.count - padded
        for t in tensors {
            guard t.offset <= dataSize else { throw fail(.offsetOutOfBounds(offset: UInt64(t.offset), bytes: t.byteCount, dataSize: dataSize), tensor: t.name) }
            guard t.byteCount <= dataSize - t.offset else { throw fail(.truncated("the data of tensor '\(t.name)'"), tensor: t.name) }
        }
        ggufTensors = tensors
        self.index = index
    }

    /// The value of metadata `key`, if present.
    public func value(_ key: String) -> GGUFValue? { values[key] }

    /// The tensor named `name`, as stored.
    public func ggufTensor(named name: String) -> GGUFTensor? { index[name].map { ggufTensors[$0] } }

    /// The GGML type of every block-quantized tensor (which reads as F32), by name.
    public var blockTypes: [String: String] {
        Dictionary(uniqueKeysWithValues: ggufTensors.filter { $0.type.plainDType == nil }.map { ($0.name, $0.type.description) })
    }

    /// The stored bytes of `tensor`.
    public func storedBytes(of tensor: GGUFTensor) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapping.bytes[(dataOffset + tensor.offset)..<(dataOffset + tensor.offset + tensor.byteCount)])
    }

    // MARK: TensorSource

    public var sourceDescription: String { path }

    /// Every tensor as it reads: plain types in their dtype, block-quantized ones as F32.
    public var tensors: [TensorInfo] { ggufTensors.map(info(of:)) }

    /// Every metadata value rendered on one line (long arrays summarised).
    public var metadata: [String: String] { values.mapValues(\.description) }

    public func info(named name: String) -> TensorInfo? { ggufTensor(named: name).map(info(of:)) }

    public func view(named name: String) throws(TensorLookupError) -> TensorView {
        guard let t = ggufTensor(named: name) else { throw TensorLookupError(name: name, source: path) }
        let info = info(of: t)
        if t.type.plainDType != nil { return TensorView(info: info, bytes: storedBytes(of: t), owner: mapping) }
        guard t.type.isDequantizable else {
            throw TensorLookupError(name: name, source: path, reason: "ggml type \(t.type) cannot be dequantized by mm1conv")
        }
        return TensorView(info: info) { bytes in
            GGUFDequantizer.dequantize(t.type, storedBytes(of: t), into: bytes.bindMemory(to: Float.self))
        }
    }

    private func info(of t: GGUFTensor) -> TensorInfo {
        let dtype = t.type.plainDType ?? .f32
        let shape = (try? Shape(t.shape)) ?? [0]  // the reader checked the product already
        let bytes = t.type.plainDType != nil ? t.byteCount : t.elementCount * 4
        let start = t.type.plainDType != nil ? t.offset : 0
        return TensorInfo(name: t.name, dtype: dtype, shape: shape, byteRange: start..<(start + bytes))
    }
}

/// The part of a GGUF file before its data section (header, metadata, tensor infos), parsed and checked.
struct GGUFHeader {
    let version: UInt32
    let entries: [(key: String, value: GGUFValue)]
    let values: [String: GGUFValue]
    /// `general.alignment`, or 32.
    let alignment: Int
    let tensors: [GGUFTensor]
    let index: [String: Int]
    /// Where the last tensor info ends.
    let end: Int

    /// Where the data section starts: ``end`` rounded up to a multiple of ``alignment``.
    var dataOffset: Int { end + (alignment - end % alignment) % alignment }

    /// The smallest and largest size of a file with this header: its data section reaches the end of
    /// the last tensor, and ggml writers pad that to the alignment. (A file without tensors may end
    /// right after the header.)
    var fileSize: ClosedRange<UInt64> {
        // Offsets and sizes are below 2^63 each (tensorInfo checks), so these sums cannot overflow.
        let data = tensors.lazy.map { UInt64($0.offset) + UInt64($0.byteCount) }.max() ?? 0
        let start = UInt64(dataOffset), align = UInt64(alignment)
        let least = tensors.isEmpty ? UInt64(end) : start + data
        return least...(start + data + (align - data % align) % align)
    }

    /// Parses the header at the start of `bytes`.
    /// - Parameter partial: `bytes` are only the first bytes of the file (a file still being decompressed):
    ///   a read past them, or a count or length larger than they could hold, is then `.truncated` (more
    ///   bytes may settle it) instead of the violation it is in a whole file.
    /// - Throws: ``FormatError`` (`.gguf`) naming `file`, and the key or tensor at fault.
    init(parsing bytes: UnsafeRawBufferPointer, partial: Bool, file: String) throws(FormatError) {
        func fail(_ v: GGUFViolation, tensor: String? = nil, key: String? = nil) -> FormatError {
            FormatError(.gguf(v), file: file, tensor: tensor, key: key)
        }
        var c = Cursor(bytes: bytes, partial: partial)

        guard bytes.count >= 4 else { throw fail(.truncated("the magic")) }
        guard GGUFFile.hasMagic(bytes) else { throw fail(.badMagic) }
        c.position = 4
        guard let version = c.read(UInt32.self) else { throw fail(.truncated("the version")) }
        guard version == 2 || version == 3 else { throw fail(.unsupportedVersion(version)) }
        self.version = version
        guard let tensorCount = c.read(UInt64.self) else { throw fail(.truncated("the tensor count")) }
        guard let kvCount = c.read(UInt64.self) else { throw fail(.truncated("the key/value count")) }
        // Counts no file this size could hold are refused before anything is reserved; shorter files are
        // found truncated while parsing.
        do throws(GGUFViolation) { try c.require(kvCount, what: "the key/values", else: .countTooLarge(what: "key/value", count: kvCount)) } catch let v { throw fail(v) }

        var entries: [(key: String, value: GGUFValue)] = []
        var values: [String: GGUFValue] = [:]
        for _ in 0..<kvCount {
            let key: String
            do throws(GGUFViolation) { key = try c.name(what: "a key", limit: 65535) } catch let v { throw fail(v) }
            do throws(GGUFViolation) {
                guard let type = c.read(UInt32.self) else { throw GGUFViolation.truncated("the value type") }
                let value = try c.value(type: type, depth: 0)
                guard values[key] == nil else { throw GGUFViolation.duplicateKey }
                values[key] = value
                entries.append((key, value))
            } catch let v { throw fail(v, key: key) }
        }
        self.entries = entries
        self.values = values

        var alignment = 32
        if let a = values["general.alignment"] {
            guard case .uint32(let v) = a else { throw fail(.badAlignment("is \(a.typeName), not UINT32"), key: "general.alignment") }
            guard v > 0, v & (v - 1) == 0 else { throw fail(.badAlignment("\(v) is not a non-zero power of two"), key: "general.alignment") }
            guard v <= 1 << 20 else { throw fail(.badAlignment("\(v) is above 1 MiB"), key: "general.alignment") }
            alignment = Int(v)
        }
        self.alignment = alignment

        do throws(GGUFViolation) { try c.require(tensorCount, what: "the tensor infos", else: .countTooLarge(what: "tensor", count: tensorCount)) } catch let v { throw fail(v) }
        var tensors: [GGUFTensor] = []
        var index: [String: Int] = [:]
        for _ in 0..<tensorCount {
            let name: String
            do throws(GGUFViolation) { name = try c.name(what: "a tensor name", limit: GGUFFile.maxStringBytes) } catch let v { throw fail(v) }
            // ggml's GGML_MAX_NAME is 64 including the terminating NUL.
            guard name.utf8.count < 64 else { throw fail(.invalidName("64 bytes or longer (\(name.utf8.count) bytes; ggml's limit is 63)"), tensor: name) }
            do throws(GGUFViolation) {
                let tensor = try c.tensorInfo(name: name)
                guard index[name] == nil else { throw GGUFViolation.duplicateTensor }
                index[name] = tensors.count
                tensors.append(tensor)
            } catch let v { throw fail(v, tensor: name) }
        }
        // Offsets are checked here, not only against the file: a header whose tensors are misaligned or
        // overlap is refused before its data is read (or decompressed).
        for t in tensors where t.offset % alignment != 0 {
            throw fail(.misalignedOffset(offset: UInt64(t.offset), alignment: alignment), tensor: t.name)
        }
        let byOffset = tensors.sorted { ($0.offset, $0.byteCount) < ($1.offset, $1.byteCount) }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where a.byteCount > 0 && b.offset < a.offset + a.byteCount {
            throw fail(.overlappingTensors(other: a.name), tensor: b.name)
        }
        self.tensors = tensors
        self.index = index
        end = c.position
    }
}

/// A bounded reader over the mapped bytes: every read checks what is left first.
struct Cursor {
    let bytes: UnsafeRawBufferPointer
    /// `bytes` are a prefix of the file: counts and lengths past their end may still fit the file.
    var partial = false
    var position = 0

    var remaining: Int { bytes.count - position }

    /// Throws `violation` when `count` items of at least `unit` bytes cannot fit in what is left; in a
    /// partial parse, `.truncated(what)` instead (the rest of the file may hold them).
    func require(_ count: UInt64, unit: Int = 1, what: String, else violation: GGUFViolation) throws(GGUFViolation) {
        guard count > UInt64(remaining / unit) else { return }
        throw partial ? .truncated(what) : violation
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type) -> T? {
        guard remaining >= MemoryLayout<T>.size else { return nil }
        defer { position += MemoryLayout<T>.size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    /// A length-prefixed string (u64 length, UTF-8 bytes, no NUL).
    mutating func string() throws(GGUFViolation) -> String {
        guard let length = read(UInt64.self) else { throw .truncated("a string length") }
        guard length <= UInt64(GGUFFile.maxStringBytes) else { throw .stringTooLong(length) }
        try require(length, what: "a string", else: .stringTooLong(length))
        let raw = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + Int(length))])
        position += Int(length)
        guard let s = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8 }
        return s
    }

    /// A key or tensor name: a string, valid UTF-8, non-empty and at most `limit` bytes.
    mutating func name(what: String, limit: Int) throws(GGUFViolation) -> String {
        guard let length = read(UInt64.self) else { throw .truncated(what) }
        guard length <= UInt64(GGUFFile.maxStringBytes), length <= UInt64(limit) else { throw .stringTooLong(length) }
        try require(length, what: what, else: .stringTooLong(length))
        let raw = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + Int(length))])
        position += Int(length)
        guard length > 0 else { throw .invalidName("is empty") }
        guard let s = String(validating: raw, as: UTF8.self) else { throw .invalidName("is not valid UTF-8") }
        return s
    }

    mutating func value(type: UInt32, depth: Int) throws(GGUFViolation) -> GGUFValue {
        func scalar<T: FixedWidthInteger>(_: T.Type) throws(GGUFViolation) -> T {
            guard let v = read(T.self) else { throw .truncated("a value") }
            return v
        }
        switch type {
        case 0: return .uint8(try scalar(UInt8.self))
        case 1: return .int8(try scalar(Int8.self))
        case 2: return .uint16(try scalar(UInt16.self))
        case 3: return .int16(try scalar(Int16.self))
        case 4: return .uint32(try scalar(UInt32.self))
        case 5: return .int32(try scalar(Int32.self))
        case 6: return .float32(Float(bitPattern: try scalar(UInt32.self)))
        case 7: return .bool(try scalar(UInt8.self) != 0)
        case 8: return .string(try string())
        case 10: return .uint64(try scalar(UInt64.self))
        case 11: return .int64(try scalar(Int64.self))
        case 12: return .float64(Double(bitPattern: try scalar(UInt64.self)))
        case 9:
            guard let elementType = read(UInt32.self) else { throw .truncated("an array's element type") }
            guard let count = read(UInt64.self) else { throw .truncated("an array's length") }
            // The smallest encoding of one element: its scalar size, 8 for a string, 12 for an array.
            let minimum: Int
            if let size = GGUFValue.scalarSize(elementType) { minimum = size }
            else if elementType == 8 { minimum = 8 }
            else if elementType == 9 { minimum = 12 }
            else { throw .unknownValueType(elementType) }
            guard count <= UInt64(GGUFFile.maxArrayElements) else { throw .arrayTooLarge(count) }
            try require(count, unit: minimum, what: "an array", else: .arrayTooLarge(count))
            if elementType == 9 && depth + 1 >= GGUFFile.maxNesting { throw .nestingTooDeep(GGUFFile.maxNesting) }
            var elements: [GGUFValue] = []
            elements.reserveCapacity(Int(count))
            for _ in 0..<count { elements.append(try value(type: elementType, depth: depth + 1)) }
            return .array(elementType: elementType, elements)
        default:
            throw .unknownValueType(type)
        }
    }

    mutating func tensorInfo(name: String) throws(GGUFViolation) -> GGUFTensor {
        guard let rank = read(UInt32.self) else { throw .truncated("a tensor's n_dims") }
        guard rank <= 4 else { throw .badDimensions("n_dims \(rank) (at most 4)") }
        var dims: [Int] = []
        for _ in 0..<rank {
            guard let d = read(UInt64.self) else { throw .truncated("a tensor's dimensions") }
            guard d <= UInt64(Int64.max) else { throw .badDimensions("dimension \(Int64(bitPattern: d)) is negative") }
            dims.append(Int(d))
        }
        if let zero = dims.dropFirst().firstIndex(of: 0) {
            throw .badDimensions("ne[\(zero)] is 0 (ggml divides by every dimension after the first)")
        }
        var elements = 1
        for d in dims {
            let (p, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow else { throw .shapeOverflow }
            elements = p
        }
        guard let typeID = read(UInt32.self) else { throw .truncated("a tensor's type") }
        let type = GGMLType(id: typeID)
        guard type.isStorable else { throw .unknownGGMLType(typeID) }
        let rowLength = dims.first ?? 1
        guard rowLength % type.blockSize == 0 else { throw .rowNotBlockMultiple(rowLength: rowLength, blockSize: type.blockSize) }
        let (bytes, overflow) = (elements / type.blockSize).multipliedReportingOverflow(by: type.blockBytes)
        guard !overflow else { throw .shapeOverflow }
        guard let offset = read(UInt64.self) else { throw .truncated("a tensor's offset") }
        guard offset <= UInt64(Int.max - bytes) else {
            throw .offsetOutOfBounds(offset: offset, bytes: bytes, dataSize: self.bytes.count)
        }
        return GGUFTensor(name: name, type: type, dimensions: dims, offset: Int(offset), byteCount: bytes)
    }
}
