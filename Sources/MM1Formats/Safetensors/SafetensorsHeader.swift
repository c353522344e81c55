import MM1Tensor
/// A safetensors header that has passed every check: it exists only when each tensor's dtype, shape
/// and byte span agree and the spans cover the data buffer exactly, without holes or overlaps.
///
/// Validation follows the Rust reference's order: the length prefix, the JSON, each entry, then the
/// entries sorted by offset for contiguity, then coverage of the buffer.
public struct SafetensorsHeader: Sendable {
    /// `__metadata__`, string to string.
    public let metadata: [String: String]
    /// Every tensor, sorted by name; `byteRange` is relative to ``dataOffset``.
    public let tensors: [TensorInfo]
    /// Where the data buffer starts: 8 + the header length.
    public let dataOffset: Int
    /// Things the format allows but its schema does not, e.g. unknown fields in an entry.
    public let warnings: [String]

    /// Parses and validates the header of a whole file held in `file`.
    /// - Parameter name: the file's name for errors, as the user gave it.
    public init(parsing file: UnsafeRawBufferPointer, name: String, limits: ReadLimits = .standard) throws(FormatError) {
        func fail(_ v: SafetensorsViolation, _ tensor: String? = nil) -> FormatError {
            FormatError(.safetensors(v), file: name, tensor: tensor)
        }
        guard file.count >= 8 else { throw fail(.truncatedHeaderLength(fileSize: file.count)) }
        let declared = UInt64(littleEndian: file.loadUnaligned(as: UInt64.self))
        guard declared <= UInt64(limits.maxHeaderBytes) else {
            throw fail(.headerTooLarge(declared: declared, limit: limits.maxHeaderBytes))
        }
        let headerLength = Int(declared)
        guard headerLength <= file.count - 8 else {
            throw fail(.headerTruncated(declared: declared, available: file.count - 8))
        }
        let json: JSONValue
        do {
            json = try StrictJSONParser(maxDepth: limits.maxJSONDepth)
                .parse(UnsafeRawBufferPointer(rebasing: file[8..<(8 + headerLength)]))
        } catch {
            if case .duplicateKey(let key, let path) = error.reason {
                switch (path.first, key) {
                case (nil, "__metadata__"): throw fail(.invalidMetadata("appears twice"))
                case (nil, _): throw fail(.duplicateTensorName, key)
                case ("__metadata__"?, _): throw fail(.invalidMetadata("key \"\(FormatError.abbreviated(key))\" appears twice"))
                case (let tensor?, _): throw fail(.invalidTensorEntry("field \"\(FormatError.abbreviated(key))\" appears twice"), tensor)
                }
            }
            throw fail(.headerNotJSON(error))
        }
        guard case .object(let top) = json else { throw fail(.headerNotObject(found: json.kind)) }

        var metadata: [String: String] = [:]
        var warnings: [String] = []
        var entries: [TensorInfo] = []
        entries.reserveCapacity(top.count)
        for (key, value) in top.members {
            if key == "__metadata__" {
                metadata = try Self.metadata(value, fail)
                continue
            }
            let (info, unknown) = try Self.entry(named: key, value, limits: limits, fail)
            entries.append(info)
            if !unknown.isEmpty {
                warnings.append("tensor '\(FormatError.abbreviated(key))': unknown fields \(unknown.sorted()) ignored")
            }
        }

        // Contiguity and coverage, in offset order (ties: empty tensors first, then name).
        let byOffset = entries.sorted {
            ($0.byteRange.lowerBound, $0.byteRange.upperBound, $0.name) < ($1.byteRange.lowerBound, $1.byteRange.upperBound, $1.name)
        }
        var end = 0
        for info in byOffset {
            let start = info.byteRange.lowerBound
            if start > end { throw fail(.dataGap(expectedStart: end, start: start), info.name) }
            if start < end { throw fail(.dataOverlap(previousEnd: end, start: start), info.name) }
            end = info.byteRange.upperBound
        }
        let available = file.count - 8 - headerLength
        if end < available { throw fail(.trailingBytes(dataEnd: end, available: available)) }
        if end > available { throw fail(.dataTruncated(dataEnd: end, available: available)) }

        self.metadata = metadata
        self.tensors = entries.sorted { $0.name < $1.name }
        self.dataOffset = 8 + headerLength
        self.warnings = warnings
    }

    private static func metadata(_ value: JSONValue, _ fail: (SafetensorsViolation, String?) -> FormatError) throws(FormatError) -> [String: String] {
        if case .null = value { return [:] }
        guard case .object(let object) = value else { throw fail(.invalidMetadata("expected an object, found \(value.kind)"), nil) }
        var result: [String: String] = [:]
        for (k, v) in object.members {
            guard case .string(let s) = v else {
                throw fail(.invalidMetadata("value of \"\(FormatError.abbreviated(k))\" must be a string, found \(v.kind)"), nil)
            }
            result[k] = s
        }
        return result
    }

    private static func entry(
        named name: String, _ value: JSONValue, limits: ReadLimits, _ fail: (SafetensorsViolation, String?) -> FormatError
    ) throws(FormatError) -> (TensorInfo, unknownFields: [String]) {
        guard case .object(let o) = value else { throw fail(.invalidTensorEntry("expected an object, found \(value.kind)"), name) }
        guard let dtypeValue = o["dtype"] else { throw fail(.invalidTensorEntry("missing \"dtype\""), name) }
        guard let shapeValue = o["shape"] else { throw fail(.invalidTensorEntry("missing \"shape\""), name) }
        guard let offsetsValue = o["data_offsets"] else { throw fail(.invalidTensorEntry("missing \"data_offsets\""), name) }
        let unknown = o.keys.filter { !["dtype", "shape", "data_offsets"].contains($0) }

        guard case .string(let dtypeName) = dtypeValue else { throw fail(.invalidTensorEntry("\"dtype\" must be a string, found \(dtypeValue.kind)"), name) }
        guard let dtype = DType(safetensorsName: dtypeName) else { throw fail(.unknownDType(dtypeName), name) }

        guard case .array(let dims) = shapeValue else { throw fail(.invalidShape("expected an array, found \(shapeValue.kind)"), name) }
        guard dims.count <= limits.maxRank else { throw fail(.invalidShape("\(dims.count) dimensions exceed the limit of \(limits.maxRank)"), name) }
        var dimensions: [Int] = []
        dimensions.reserveCapacity(dims.count)
        for d in dims {
            guard let n = d.int else {
                if d.uint64 != nil { throw fail(.sizeOverflow(shape: dims.map(Self.text)), name) }
                throw fail(.invalidShape("dimension \(d.kind) is not a non-negative integer"), name)
            }
            dimensions.append(n)
        }
        guard let shape = try? Shape(dimensions) else { throw fail(.sizeOverflow(shape: dims.map(Self.text)), name) }

        guard case .array(let offsets) = offsetsValue, offsets.count == 2 else {
            throw fail(.invalidOffsets("expected an array of two integers"), name)
        }
        guard let begin = offsets[0].int, let end = offsets[1].int else {
            let tooLarge = offsets.allSatisfy { $0.uint64 != nil }
            throw fail(.invalidOffsets("[\(offsets.map(Self.text).joined(separator: ", "))] \(tooLarge ? "exceed the largest file offset" : "are not non-negative integers")"), name)
        }
        guard begin <= end else { throw fail(.invalidOffsets("begin \(begin) is after end \(end)"), name) }

        let bits = shape.elementCount.multipliedReportingOverflow(by: dtype.bitWidth)
        guard !bits.overflow else { throw fail(.sizeOverflow(shape: dims.map(Self.text)), name) }
        guard bits.partialValue % 8 == 0 else { throw fail(.misalignedSubByte(elements: shape.elementCount, dtype: dtype), name) }
        let expected = bits.partialValue / 8
        guard end - begin == expected else { throw fail(.byteCountMismatch(expected: expected, declared: end - begin), name) }
        return (TensorInfo(name: name, dtype: dtype, shape: shape, byteRange: begin..<end), unknown)
    }

    private static func text(_ v: JSONValue) -> String {
        if case .number(let t) = v { return t }
        return v.kind
    }
}
