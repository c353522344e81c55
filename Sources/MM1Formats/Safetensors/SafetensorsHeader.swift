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
    /// The tensors in header order, and each name's position there (`-1` for `__metadata__`).
    private let inFileOrder: [TensorInfo]
    private let positions: [String: Int]

    /// The tensor called `name`, or `nil`.
    public func info(named name: String) -> TensorInfo? {
        guard let i = positions[name], i >= 0 else { return nil }
        return inFileOrder[i]
    }

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
        var metadata: [String: String] = [:]
        var warnings: [String] = []
        var entries: [TensorInfo] = []
        var positions: [String: Int] = [:]
        do {
            try Self.readMembers(
                UnsafeRawBufferPointer(rebasing: file[8..<(8 + headerLength)]), limits: limits, fail,
                metadata: &metadata, entries: &entries, warnings: &warnings, positions: &positions)
        } catch let error as FormatError {
            throw error
        } catch let error as NotAnObject {
            throw fail(.headerNotObject(found: error.kind))
        } catch let error as JSONError {
            if case .duplicateKey(let key, let path) = error.reason {
                switch (path.first, key) {
                case (nil, "__metadata__"): throw fail(.invalidMetadata("appears twice"))
                case (nil, _): throw fail(.duplicateTensorName, key)
                case ("__metadata__"?, _): throw fail(.invalidMetadata("key \"\(FormatError.abbreviated(key))\" appears twice"))
                case (let tensor?, _): throw fail(.invalidTensorEntry("field \"\(FormatError.abbreviated(key))\" appears twice"), tensor)
                }
            }
            throw fail(.headerNotJSON(error))
        } catch {
            preconditionFailure("unexpected error \(error)")
        }

        // Contiguity and coverage, in offset order (ties: empty tensors first, then name).
        // Sorted as indices: moving whole TensorInfo values (a String and an array each) costs more
        // than the comparisons.
        let byOffset = entries.indices.sorted { a, b in
            let x = entries[a].byteRange, y = entries[b].byteRange
            if x.lowerBound != y.lowerBound { return x.lowerBound < y.lowerBound }
            if x.upperBound != y.upperBound { return x.upperBound < y.upperBound }
            return entries[a].name < entries[b].name
        }.map { entries[$0] }
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
        self.tensors = entries.indices.sorted { entries[$0].name < entries[$1].name }.map { entries[$0] }
        self.inFileOrder = entries
        self.positions = positions
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

    /// A tensor entry's fields as read; an entry that is not an object keeps its kind in `notObject`.
    struct RawEntry {
        let name: String
        var dtype: JSONValue?
        var shape: JSONValue?
        var offsets: JSONValue?
        /// `shape` and `data_offsets` when they are plain integer arrays (read without building values).
        var shapeIntegers: [Int]?
        var offsetIntegers: [Int]?
        var unknownFields: [String] = []
        var notObject: String?
        init(name: String) { self.name = name }
    }

    /// The header's JSON is valid but not an object.
    struct NotAnObject: Error { let kind: String }

    /// Reads and checks the header's members without building a tree of every entry. All of the
    /// JSON is read before a broken rule is reported (so a syntax error anywhere wins, as with a
    /// whole-document parse); the first broken rule, in member order, is then thrown. Duplicate names
    /// and fields are thrown at once as JSON duplicate keys with their path.
    static func readMembers(
        _ bytes: UnsafeRawBufferPointer, limits: ReadLimits, _ fail: (SafetensorsViolation, String?) -> FormatError,
        metadata: inout [String: String], entries: inout [TensorInfo], warnings: inout [String], positions: inout [String: Int]
    ) throws {
        var firstViolation: FormatError?
        func check(_ body: () throws(FormatError) -> Void) {
            guard firstViolation == nil else { return }
            do { try body() } catch { firstViolation = error }
        }
        var reader = try JSONReader(bytes, limits: StrictJSONParser(maxDepth: limits.maxJSONDepth))
        guard reader.nextByte == UInt8(ascii: "{") else {
            let value = try reader.readValue()
            try reader.finish()
            throw NotAnObject(kind: value.kind)
        }
        try reader.openObject()
        positions.reserveCapacity(bytes.count / 96)
        entries.reserveCapacity(bytes.count / 96)
        while let key = try reader.nextKey() {
            // One hash per name: duplicate detection, and later the lookup table of the file.
            guard positions.updateValue(-1, forKey: key) == nil else {
                throw JSONError(reason: .duplicateKey(key, path: []), offset: reader.position)
            }
            if key == "__metadata__" {
                let value = try reader.readValue()
                check { () throws(FormatError) in metadata = try Self.metadata(value, fail) }
                continue
            }
            var raw = RawEntry(name: key)
            guard reader.nextByte == UInt8(ascii: "{") else {
                raw.notObject = try reader.readValue().kind
                check { () throws(FormatError) in _ = try Self.entry(raw, limits: limits, fail) }
                continue
            }
            try reader.openObject()
            while let field = try reader.nextKey() {
                func once(_ slot: inout JSONValue?, _ integers: inout [Int]?, maxCount: Int) throws {
                    guard slot == nil, integers == nil else { throw JSONError(reason: .duplicateKey(field, path: [key]), offset: reader.position) }
                    integers = reader.readIntegerArray(maxCount: maxCount)
                    if integers == nil { slot = try reader.readValue() }
                }
                var unused: [Int]?
                switch field {
                case "dtype": try once(&raw.dtype, &unused, maxCount: 0)
                case "shape": try once(&raw.shape, &raw.shapeIntegers, maxCount: limits.maxRank)
                case "data_offsets": try once(&raw.offsets, &raw.offsetIntegers, maxCount: 2)
                default:
                    guard !raw.unknownFields.contains(field) else {
                        throw JSONError(reason: .duplicateKey(field, path: [key]), offset: reader.position)
                    }
                    raw.unknownFields.append(field)
                    _ = try reader.readValue()
                }
            }
            check { () throws(FormatError) in
                positions[key] = entries.count
                entries.append(try Self.entry(raw, limits: limits, fail))
                if !raw.unknownFields.isEmpty {
                    warnings.append("tensor '\(FormatError.abbreviated(raw.name))': unknown fields \(raw.unknownFields.sorted()) ignored")
                }
            }
        }
        try reader.finish()
        if let firstViolation { throw firstViolation }
    }

    private static func entry(
        _ raw: RawEntry, limits: ReadLimits, _ fail: (SafetensorsViolation, String?) -> FormatError
    ) throws(FormatError) -> TensorInfo {
        let name = raw.name
        if let kind = raw.notObject { throw fail(.invalidTensorEntry("expected an object, found \(kind)"), name) }
        guard let dtypeValue = raw.dtype else { throw fail(.invalidTensorEntry("missing \"dtype\""), name) }
        guard raw.shape != nil || raw.shapeIntegers != nil else { throw fail(.invalidTensorEntry("missing \"shape\""), name) }
        guard raw.offsets != nil || raw.offsetIntegers != nil else { throw fail(.invalidTensorEntry("missing \"data_offsets\""), name) }

        guard case .string(let dtypeName) = dtypeValue else { throw fail(.invalidTensorEntry("\"dtype\" must be a string, found \(dtypeValue.kind)"), name) }
        guard let dtype = DType(safetensorsName: dtypeName) else { throw fail(.unknownDType(dtypeName), name) }

        let dimensions: [Int]
        if let integers = raw.shapeIntegers {
            dimensions = integers
        } else {
            dimensions = try Self.dimensions(raw.shape!, limits: limits) { fail($0, name) }
        }
        func shapeText() -> [String] { dimensions.map(String.init) }
        guard let shape = try? Shape(dimensions) else { throw fail(.sizeOverflow(shape: shapeText()), name) }

        let offsetPair: [Int]
        if let pair = raw.offsetIntegers, pair.count == 2 {
            offsetPair = pair
        } else if let pair = raw.offsetIntegers {
            throw fail(.invalidOffsets("expected an array of two integers, found \(pair.count)"), name)
        } else {
            guard case .array(let offsets)? = raw.offsets, offsets.count == 2 else {
                throw fail(.invalidOffsets("expected an array of two integers"), name)
            }
            guard let begin = offsets[0].int, let end = offsets[1].int else {
                let tooLarge = offsets.allSatisfy { $0.uint64 != nil }
                throw fail(.invalidOffsets("[\(offsets.map(Self.text).joined(separator: ", "))] \(tooLarge ? "exceed the largest file offset" : "are not non-negative integers")"), name)
            }
            offsetPair = [begin, end]
        }
        let begin = offsetPair[0], end = offsetPair[1]
        guard begin <= end else { throw fail(.invalidOffsets("begin \(begin) is after end \(end)"), name) }

        let bits = shape.elementCount.multipliedReportingOverflow(by: dtype.bitWidth)
        guard !bits.overflow else { throw fail(.sizeOverflow(shape: shapeText()), name) }
        guard bits.partialValue % 8 == 0 else { throw fail(.misalignedSubByte(elements: shape.elementCount, dtype: dtype), name) }
        let expected = bits.partialValue / 8
        guard end - begin == expected else { throw fail(.byteCountMismatch(expected: expected, declared: end - begin), name) }
        return TensorInfo(name: name, dtype: dtype, shape: shape, byteRange: begin..<end)
    }

    /// The dimensions of a shape that was not a plain integer array, or the precise reason it is invalid.
    private static func dimensions(
        _ value: JSONValue, limits: ReadLimits, _ fail: (SafetensorsViolation) -> FormatError
    ) throws(FormatError) -> [Int] {
        guard case .array(let dims) = value else { throw fail(.invalidShape("expected an array, found \(value.kind)")) }
        guard dims.count <= limits.maxRank else { throw fail(.invalidShape("\(dims.count) dimensions exceed the limit of \(limits.maxRank)")) }
        var dimensions: [Int] = []
        for d in dims {
            guard let n = d.int else {
                if d.uint64 != nil { throw fail(.sizeOverflow(shape: dims.map(Self.text))) }
                throw fail(.invalidShape("dimension \(d.kind) is not a non-negative integer"))
            }
            dimensions.append(n)
        }
        return dimensions
    }

    private static func text(_ v: JSONValue) -> String {
        if case .number(let t) = v { return t }
        if case .unsigned(let n) = v { return String(n) }
        return v.kind
    }
}
