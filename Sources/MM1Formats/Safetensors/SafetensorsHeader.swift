import MM1Tensor
/// A safetensors header that has passed every check: it exists only when each tensor's dtype, shape
/// and byte span agree and the spans cover the data buffer exactly, without holes or overlaps.
///
/// Validation follows the Rust reference's order: the length prefix, the JSON, each entry, then the
/// entries sorted by offset for contiguity, then coverage of the buffer.
public struct SafetensorsHeader: Sendable {
    /// `__metadata__`, string to string.
    public let metadata: [String: String]
    /// Every tensor, sorted by name (``TensorInfo/nameOrder(_:_:)``); `byteRange` is relative to ``dataOffset``.
    public let tensors: [TensorInfo]
    /// Where the data buffer starts: 8 + the header length.
    public let dataOffset: Int
    /// Things the format allows but its schema does not, e.g. unknown fields in an entry.
    public let warnings: [String]
    /// For each of ``tensors``, where its name is in the file when it has no escapes (those bytes are
    /// then the name's UTF-8): names are compared there without touching a `String`.
    let nameText: [Range<Int>?]

    /// The tensor called `name`, or `nil`.
    public func info(named name: String) -> TensorInfo? { position(of: name).map { tensors[$0] } }

    /// Whether the file has a tensor called `name`.
    public func contains(_ name: String) -> Bool { position(of: name) != nil }

    /// Size of the data buffer the header declares: the end of the last tensor's bytes.
    public var dataSize: Int { tensors.lazy.map(\.byteRange.upperBound).max() ?? 0 }

    /// Where `name` is in ``tensors``.
    func position(of name: String) -> Int? { tensors.sortedPosition(of: name) }

    /// Parses and validates the header of a whole file held in `file`.
    /// - Parameter name: the file's name for errors, as the user gave it.
    public init(parsing file: UnsafeRawBufferPointer, name: String, limits: ReadLimits = .standard) throws(FormatError) {
        try self.init(parsing: file, fileSize: file.count, name: name, limits: limits)
    }

    /// How many bytes of a file of `fileSize` bytes the header takes, the 8-byte length included,
    /// from the file's first (up to) 8 bytes: what to read before parsing. Lengths over the limit
    /// count as 0 (the parse refuses them).
    public static func prefixLength(first: UnsafeRawBufferPointer, limits: ReadLimits = .standard) -> Int {
        guard first.count >= 8 else { return first.count }
        let declared = UInt64(littleEndian: first.loadUnaligned(as: UInt64.self))
        return declared <= UInt64(limits.maxHeaderBytes) ? 8 + Int(declared) : 8
    }

    /// Parses and validates the header of a file of `fileSize` bytes from `prefix`, the file's first
    /// bytes: at least the whole header (see ``prefixLength(first:limits:)``).
    /// - Parameter fileSize: the whole file's size; nil when it is not known yet (a file still being
    ///   decompressed): every check is made but the data buffer's size against the file's, and
    ///   ``dataSize`` says how many bytes must follow the header.
    public init(parsing prefix: UnsafeRawBufferPointer, fileSize: Int?, name: String, limits: ReadLimits = .standard) throws(FormatError) {
        func fail(_ v: SafetensorsViolation, _ tensor: String? = nil) -> FormatError {
            FormatError(.safetensors(v), file: name, tensor: tensor)
        }
        let sizeKnown = fileSize != nil
        let fileSize = fileSize ?? Int.max  // unknown: as large as any header says
        guard fileSize >= 8, prefix.count >= 8 else { throw fail(.truncatedHeaderLength(fileSize: sizeKnown ? fileSize : prefix.count)) }
        let declared = UInt64(littleEndian: prefix.loadUnaligned(as: UInt64.self))
        guard declared <= UInt64(limits.maxHeaderBytes) else {
            throw fail(.headerTooLarge(declared: declared, limit: limits.maxHeaderBytes))
        }
        let headerLength = Int(declared)
        // The prefix falls short only if the file shrank while it was read.
        guard headerLength <= fileSize - 8, headerLength <= prefix.count - 8 else {
            throw fail(.headerTruncated(declared: declared, available: min(fileSize, prefix.count) - 8))
        }
        var metadata: [String: String] = [:]
        var warnings: [String] = []
        var entries: [TensorInfo] = []
        var nameText: [Range<Int>?] = []  // each entry's name in the header, when it has no escapes
        let json = UnsafeRawBufferPointer(rebasing: prefix[8..<(8 + headerLength)])
        do {
            try Self.readMembers(
                json, limits: limits, fail,
                metadata: &metadata, entries: &entries, warnings: &warnings, nameText: &nameText)
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

        // Names compared as UTF-8 bytes (code point order, as Python and Rust sort strings), straight
        // from the header text when they have no escapes: no String is touched while sorting.
        let named = entries.indices.map { (text: nameText[$0], entry: $0) }
        func less(_ a: (text: Range<Int>?, entry: Int), _ b: (text: Range<Int>?, entry: Int)) -> Bool {
            guard let x = a.text, let y = b.text else { return TensorInfo.nameOrder(entries[a.entry].name, entries[b.entry].name) }
            return TensorInfo.compareNames(UnsafeRawBufferPointer(rebasing: json[x]), UnsafeRawBufferPointer(rebasing: json[y])) < 0
        }
        // Name order (usually the file's own: writers sort), where two equal names are neighbours.
        let inOrder = named.indices.dropFirst().allSatisfy { less(named[$0 - 1], named[$0]) }
        let sorted = inOrder ? named : named.sorted(by: less)
        if !inOrder, sorted.indices.dropFirst().contains(where: { !less(sorted[$0 - 1], sorted[$0]) }) {
            throw fail(.duplicateTensorName, Self.firstRepeated(entries.map(\.name)))  // the one a parse meets first
        }
        // Contiguity and coverage, in offset order (ties: empty tensors first, then name).
        var byOffset = [(begin: Int, end: Int, entry: Int)]()
        byOffset.reserveCapacity(entries.count)
        for i in entries.indices { byOffset.append((entries[i].byteRange.lowerBound, entries[i].byteRange.upperBound, i)) }
        byOffset.sort { x, y in
            x.begin != y.begin ? x.begin < y.begin : x.end != y.end ? x.end < y.end : less(named[x.entry], named[y.entry])
        }
        var end = 0
        for (start, upper, i) in byOffset {
            if start > end { throw fail(.dataGap(expectedStart: end, start: start), entries[i].name) }
            if start < end { throw fail(.dataOverlap(previousEnd: end, start: start), entries[i].name) }
            end = upper
        }
        let available = fileSize - 8 - headerLength
        if end < available, sizeKnown { throw fail(.trailingBytes(dataEnd: end, available: available)) }
        if end > available { throw fail(.dataTruncated(dataEnd: end, available: available)) }

        self.metadata = metadata
        if !inOrder { Self.permute(&entries, by: sorted.map(\.entry)) }  // moved, not copied
        self.tensors = entries
        self.nameText = sorted.map { $0.text.map { ($0.lowerBound + 8)..<($0.upperBound + 8) } }
        self.dataOffset = 8 + headerLength
        self.warnings = warnings
    }

    /// Rearranges `items` so that position `k` holds what was at `order[k]` (a permutation), by
    /// swapping along its cycles: elements are moved, never copied (no reference counting).
    static func permute<T>(_ items: inout [T], by order: [Int]) {
        var order = order
        for start in order.indices where order[start] != start {
            var j = start
            while true {
                let k = order[j]
                order[j] = j
                if k == start { break }
                items.swapAt(j, k)
                j = k
            }
        }
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
        /// `dtype` when it is the plain name of a known type (read without building a value).
        var knownDType: DType?
        var shape: JSONValue?
        var offsets: JSONValue?
        /// `shape` when it is a plain integer array (read without building values).
        var shapeIntegers: [Int]?
        /// How many integers `data_offsets` held when it was a plain integer array, and the pair when
        /// there were two.
        var offsetCount: Int?
        var offsetPair: (begin: Int, end: Int)?
        var unknownFields: [String] = []
        var notObject: String?
        init(name: String) { self.name = name }
    }

    /// The header's JSON is valid but not an object.
    struct NotAnObject: Error { let kind: String }

    /// Reads and checks the header's members without building a tree of every entry. All of the
    /// JSON is read before a broken rule is reported (so a syntax error anywhere wins, as with a
    /// whole-document parse); the first broken rule, in member order, is then thrown. A duplicate
    /// name is a JSON error at its second occurrence, as in the reference's parse: it wins over any
    /// broken entry, and over a syntax error after it. (Valid headers are checked for duplicates
    /// by sorting, in `init`; only failures look back here.) Duplicate fields are thrown at once.
    static func readMembers(
        _ bytes: UnsafeRawBufferPointer, limits: ReadLimits, _ fail: (SafetensorsViolation, String?) -> FormatError,
        metadata: inout [String: String], entries: inout [TensorInfo], warnings: inout [String], nameText: inout [Range<Int>?]
    ) throws {
        var firstViolation: FormatError?
        // Names are not kept while reading (valid headers need none); a failure reads them again.
        func duplicate() -> JSONError? {
            firstRepeated(topLevelNames(bytes, limits: limits)).map { JSONError(reason: .duplicateKey($0, path: []), offset: 0) }
        }
        do {
            try readEachMember(bytes, limits: limits, fail, metadata: &metadata, entries: &entries, warnings: &warnings,
                               nameText: &nameText, firstViolation: &firstViolation)
        } catch let error as JSONError {
            throw duplicate() ?? error
        }
        if let firstViolation { throw duplicate() ?? firstViolation }
    }

    /// The names of the top-level members of `bytes`, in order, as far as the JSON can be read (the
    /// members before a syntax error, or a limit, are the ones a parse has met when it stops).
    static func topLevelNames(_ bytes: UnsafeRawBufferPointer, limits: ReadLimits) -> [String] {
        var names: [String] = []
        guard var reader = try? JSONReader(bytes, limits: StrictJSONParser(maxDepth: limits.maxJSONDepth)),
              reader.nextByte == UInt8(ascii: "{"), (try? reader.openObject()) != nil else { return names }
        while let key = try? reader.nextKey() {
            names.append(key)
            guard (try? reader.readValue()) != nil else { break }
        }
        return names
    }

    /// The first name in `names` that was seen before.
    static func firstRepeated(_ names: [String]) -> String? {
        var seen = Set<String>()
        return names.first { !seen.insert($0).inserted }
    }

    private static func readEachMember(
        _ bytes: UnsafeRawBufferPointer, limits: ReadLimits, _ fail: (SafetensorsViolation, String?) -> FormatError,
        metadata: inout [String: String], entries: inout [TensorInfo], warnings: inout [String], nameText: inout [Range<Int>?],
        firstViolation: inout FormatError?
    ) throws {
        func check(_ body: () throws(FormatError) -> Void) {
            guard case .none = firstViolation else { return }
            do { try body() } catch { firstViolation = error }
        }
        var reader = try JSONReader(bytes, limits: StrictJSONParser(maxDepth: limits.maxJSONDepth))
        guard reader.nextByte == UInt8(ascii: "{") else {
            let value = try reader.readValue()
            try reader.finish()
            throw NotAnObject(kind: value.kind)
        }
        try reader.openObject()
        entries.reserveCapacity(bytes.count / 96)
        nameText.reserveCapacity(bytes.count / 96)
        var sawMetadata = false
        var integers: [Int] = []  // reused for every shape and offset pair
        integers.reserveCapacity(8)
        while let rawKey = try reader.nextRawKey() {
            let key = try reader.string(rawKey)
            // Duplicate tensor names are found once the names are sorted (see `init`).
            if key == "__metadata__" {
                guard !sawMetadata else { throw JSONError(reason: .duplicateKey(key, path: []), offset: reader.position) }
                sawMetadata = true
                let value = try reader.readValue()
                check { () throws(FormatError) in metadata = try Self.metadata(value, fail) }
                continue
            }
            nameText.append(rawKey.hasEscape ? nil : rawKey.text)
            var raw = RawEntry(name: key)
            guard reader.nextByte == UInt8(ascii: "{") else {
                raw.notObject = try reader.readValue().kind
                check { () throws(FormatError) in _ = try Self.entry(raw, limits: limits, fail) }
                continue
            }
            try reader.openObject()
            while let field = try reader.nextRawKey() {
                func duplicate() throws -> Never {
                    throw JSONError(reason: .duplicateKey(try reader.string(field), path: [key]), offset: reader.position)
                }
                if reader.key(field, is: "dtype") {
                    guard raw.dtype == nil, raw.knownDType == nil else { try duplicate() }
                    if let text = try reader.readRawString() {
                        if !text.hasEscape, let dtype = DType(safetensorsNameBytes: reader.bytes(of: text)) {
                            raw.knownDType = dtype
                        } else {
                            raw.dtype = .string(try reader.string(text))
                        }
                    } else {
                        raw.dtype = try reader.readValue()
                    }
                } else if reader.key(field, is: "shape") {
                    guard raw.shape == nil, raw.shapeIntegers == nil else { try duplicate() }
                    if reader.readIntegerArray(maxCount: limits.maxRank, into: &integers) {
                        raw.shapeIntegers = Array(integers)
                    } else {
                        raw.shape = try reader.readValue()
                    }
                } else if reader.key(field, is: "data_offsets") {
                    guard raw.offsets == nil, raw.offsetCount == nil else { try duplicate() }
                    if reader.readIntegerArray(maxCount: 2, into: &integers) {
                        raw.offsetCount = integers.count
                        if integers.count == 2 { raw.offsetPair = (integers[0], integers[1]) }
                    } else {
                        raw.offsets = try reader.readValue()
                    }
                } else {
                    let name = try reader.string(field)
                    guard !raw.unknownFields.contains(name) else { try duplicate() }
                    raw.unknownFields.append(name)
                    _ = try reader.readValue()
                }
            }
            check { () throws(FormatError) in
                entries.append(try Self.entry(raw, limits: limits, fail))
                if !raw.unknownFields.isEmpty {
                    warnings.append("tensor '\(FormatError.abbreviated(raw.name))': unknown fields \(raw.unknownFields.sorted()) ignored")
                }
            }
        }
        try reader.finish()
    }

    private static func entry(
        _ raw: RawEntry, limits: ReadLimits, _ fail: (SafetensorsViolation, String?) -> FormatError
    ) throws(FormatError) -> TensorInfo {
        let name = raw.name
        if let kind = raw.notObject { throw fail(.invalidTensorEntry("expected an object, found \(kind)"), name) }
        guard raw.dtype != nil || raw.knownDType != nil else { throw fail(.invalidTensorEntry("missing \"dtype\""), name) }
        guard raw.shape != nil || raw.shapeIntegers != nil else { throw fail(.invalidTensorEntry("missing \"shape\""), name) }
        guard raw.offsets != nil || raw.offsetCount != nil else { throw fail(.invalidTensorEntry("missing \"data_offsets\""), name) }

        let dtype: DType
        if let known = raw.knownDType {
            dtype = known
        } else {
            let value = raw.dtype!
            guard case .string(let dtypeName) = value else { throw fail(.invalidTensorEntry("\"dtype\" must be a string, found \(value.kind)"), name) }
            guard let named = DType(safetensorsName: dtypeName) else { throw fail(.unknownDType(dtypeName), name) }
            dtype = named
        }

        let dimensions: [Int]
        if let integers = raw.shapeIntegers {
            dimensions = integers
        } else {
            dimensions = try Self.dimensions(raw.shape!, limits: limits) { fail($0, name) }
        }
        func shapeText() -> [String] { dimensions.map(String.init) }
        guard let shape = try? Shape(dimensions) else { throw fail(.sizeOverflow(shape: shapeText()), name) }

        let begin: Int, end: Int
        if let pair = raw.offsetPair {
            (begin, end) = pair
        } else if let count = raw.offsetCount {
            throw fail(.invalidOffsets("expected an array of two integers, found \(count)"), name)
        } else {
            guard case .array(let offsets)? = raw.offsets, offsets.count == 2 else {
                throw fail(.invalidOffsets("expected an array of two integers"), name)
            }
            guard let b = offsets[0].int, let e = offsets[1].int else {
                let tooLarge = offsets.allSatisfy { $0.uint64 != nil }
                throw fail(.invalidOffsets("[\(offsets.map(Self.text).joined(separator: ", "))] \(tooLarge ? "exceed the largest file offset" : "are not non-negative integers")"), name)
            }
            (begin, end) = (b, e)
        }
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
