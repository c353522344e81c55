import CKernels
/// Why bytes are not acceptable JSON, and where.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        case empty
        case invalidUTF8
        case unexpectedEnd
        case unexpectedByte(UInt8)
        case invalidNumber
        case invalidEscape
        case controlCharacterInString
        /// A key repeated in one object; `path` holds the keys of the enclosing objects, outermost first.
        case duplicateKey(String, path: [String])
        case nestingTooDeep(limit: Int)
        case tooManyValues(limit: Int)
        case trailingCharacters
    }
    public let reason: Reason
    /// Byte offset in the parsed text.
    public let offset: Int

    public init(reason: Reason, offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    /// A stable name for the reason (`"trailingCharacters"`).
    public var code: String {
        switch reason {
        case .empty: "empty"
        case .invalidUTF8: "invalidUTF8"
        case .unexpectedEnd: "unexpectedEnd"
        case .unexpectedByte: "unexpectedByte"
        case .invalidNumber: "invalidNumber"
        case .invalidEscape: "invalidEscape"
        case .controlCharacterInString: "controlCharacterInString"
        case .duplicateKey: "duplicateKey"
        case .nestingTooDeep: "nestingTooDeep"
        case .tooManyValues: "tooManyValues"
        case .trailingCharacters: "trailingCharacters"
        }
    }

    public var description: String {
        let what: String = switch reason {
        case .empty: "empty input"
        case .invalidUTF8: "not valid UTF-8"
        case .unexpectedEnd: "unexpected end of input"
        case .unexpectedByte(let b):
            (0x20..<0x7F).contains(b) ? "unexpected character '\(Character(Unicode.Scalar(b)))'" : "unexpected byte 0x\(String(b, radix: 16, uppercase: true))"
        case .invalidNumber: "invalid number"
        case .invalidEscape: "invalid escape sequence in string"
        case .controlCharacterInString: "unescaped control character in string"
        case .duplicateKey(let k, _): "duplicate key \"\(k)\""
        case .nestingTooDeep(let l): "nesting deeper than \(l) levels"
        case .tooManyValues(let l): "more than \(l) values"
        case .trailingCharacters: "trailing characters after the JSON value"
        }
        return "\(what) at byte \(offset)"
    }
}

/// A small RFC 8259 parser for untrusted headers and index files.
///
/// It exists because Foundation's parsers are not strict enough for checkpoint headers: on Linux
/// `JSONDecoder` silently keeps the first of two duplicate keys and `JSONSerialization` the last,
/// and both accept `2.0` where an integer is required. This parser rejects duplicate keys, keeps
/// numbers as text, validates UTF-8 first, allows only JSON whitespace around the value (as the
/// safetensors reader does since 0.7), and caps nesting depth and the number of values so that
/// hostile input cannot exhaust the stack or memory.
package struct StrictJSONParser {
    /// Deepest nesting of arrays and objects allowed.
    package var maxDepth: Int
    /// Most values (of any kind) allowed in one document.
    package var maxValues: Int

    package init(maxDepth: Int = 64, maxValues: Int = 50_000_000) {
        self.maxDepth = maxDepth
        self.maxValues = maxValues
    }

    /// Parses one JSON value from `bytes`, surrounded only by JSON whitespace.
    package func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONError) -> JSONValue {
        var reader = try JSONReader(bytes, limits: self)
        let value = try reader.readValue()
        try reader.finish()
        return value
    }

    /// Parses `bytes` (a convenience for tests and small files).
    package func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
        try bytes.withUnsafeBytes { raw in Result { () throws(JSONError) in try parse(raw) } }.get()
    }

}

/// A pull reader over the same strict grammar, for callers that know a document's shape and want
/// to read it without building a tree (the safetensors header: thousands of small entries).
///
/// ```swift
/// var reader = try JSONReader(bytes)
/// try reader.openObject()
/// while let key = try reader.nextKey() { let value = try reader.readValue() }
/// try reader.finish()
/// ```
/// The caller checks duplicate keys of the objects it opens itself; objects read with
/// ``readValue()`` are checked by the reader.
package struct JSONReader {
    let bytes: UnsafeRawBufferPointer
    let limits: StrictJSONParser
    var position = 0
    var values = 0
    /// Where the keys of the objects being parsed start (their opening quote), outermost first; `-1`
    /// before an object's first key. Positions, not strings: a key becomes a `String` only in an error.
    var keyPath: [Int] = []
    /// For each object opened with `openObject`, whether its first member is still to come.
    private var openFirst: [Bool] = []

    /// Validates that `bytes` are non-empty UTF-8 and positions the reader at the first value.
    package init(_ bytes: UnsafeRawBufferPointer, limits: StrictJSONParser = StrictJSONParser()) throws(JSONError) {
        guard !bytes.isEmpty else { throw JSONError(reason: .empty, offset: 0) }
        guard Self.isASCII(bytes) || String(validating: bytes, as: UTF8.self) != nil else {
            throw JSONError(reason: .invalidUTF8, offset: 0)
        }
        self.bytes = bytes
        self.limits = limits
        skipWhitespace()
    }

    /// Whether every byte is below 0x80 (headers almost always are), checked eight bytes at a time;
    /// only other text needs full UTF-8 validation.
    static func isASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        var bits: UInt64 = 0
        while i + 8 <= bytes.count {
            bits |= bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < bytes.count {
            bits |= UInt64(bytes[i])
            i += 1
        }
        return bits & 0x8080_8080_8080_8080 == 0
    }

    /// The first byte of the next value (`{`, `[`, `"`, a digit, …), or `nil` at the end.
    package var nextByte: UInt8? { current }

    /// Enters the object that comes next.
    package mutating func openObject() throws(JSONError) {
        values += 1
        guard values <= limits.maxValues else { throw fail(.tooManyValues(limit: limits.maxValues)) }
        guard let b = current else { throw fail(.unexpectedEnd) }
        guard b == UInt8(ascii: "{") else { throw fail(.unexpectedByte(b)) }
        guard keyPath.count + 1 <= limits.maxDepth else { throw fail(.nestingTooDeep(limit: limits.maxDepth)) }
        position += 1
        openFirst.append(true)
        keyPath.append(-1)
    }

    /// The next key of the innermost object opened with ``openObject()``, positioned at its value;
    /// `nil` when the object ends (and is left).
    package mutating func nextKey() throws(JSONError) -> String? {
        guard let key = try nextRawKey() else { return nil }
        return try string(key)
    }

    /// A key's place in the text, read without building a `String` (compare it with
    /// ``key(_:is:)``; make it a string with ``string(_:)``).
    package struct Key: Sendable {
        /// The opening quote.
        let quote: Int
        /// The characters between the quotes, still escaped.
        let text: Range<Int>
        let hasEscape: Bool
    }

    /// ``nextKey()`` without the `String`: what a reader that knows the field names it expects uses.
    package mutating func nextRawKey() throws(JSONError) -> Key? {
        skipWhitespace()
        guard let b = current else { throw fail(.unexpectedEnd) }
        if openFirst[openFirst.count - 1] {
            openFirst[openFirst.count - 1] = false
            if b == UInt8(ascii: "}") { close(); return nil }
        } else {
            position += 1
            if b == UInt8(ascii: "}") { position -= 1; close(); return nil }
            guard b == UInt8(ascii: ",") else { position -= 1; throw fail(.unexpectedByte(b)) }
            skipWhitespace()
        }
        guard let q = current else { throw fail(.unexpectedEnd) }
        guard q == UInt8(ascii: "\"") else { throw fail(.unexpectedByte(q)) }
        let key = try scanString()
        skipWhitespace()
        guard let colon = current else { throw fail(.unexpectedEnd) }
        guard colon == UInt8(ascii: ":") else { throw fail(.unexpectedByte(colon)) }
        position += 1
        skipWhitespace()
        keyPath[keyPath.count - 1] = key.quote
        return key
    }

    /// Whether `key` is exactly `name` (an escaped key never is: field names have no escapes).
    package func key(_ key: Key, is name: StaticString) -> Bool {
        guard !key.hasEscape, key.text.count == name.utf8CodeUnitCount else { return false }
        let base = key.text.lowerBound
        for i in 0..<key.text.count where bytes[base + i] != name.utf8Start[i] { return false }
        return true
    }

    /// The key as a string, escapes resolved.
    package func string(_ key: Key) throws(JSONError) -> String {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[key.text])
        return key.hasEscape ? try unescape(raw, base: key.text.lowerBound) : String(decoding: raw, as: UTF8.self)
    }

    /// The key that starts at `quote` (for error paths; `""` for `-1`).
    func keyString(at quote: Int) -> String {
        guard quote >= 0 else { return "" }
        var copy = self
        copy.position = quote
        return (try? copy.parseString()) ?? ""
    }

    /// ``keyPath`` as strings.
    var keyPathStrings: [String] { keyPath.map(keyString(at:)) }

    private mutating func close() {
        position += 1
        openFirst.removeLast()
        keyPath.removeLast()
    }

    /// Reads `[n, n, …]` of plain non-negative integers that fit `Int` (a shape or a pair of
    /// offsets) without building values; returns `nil`, having consumed nothing, for anything else,
    /// so that the caller reads the value whole and reports it precisely.
    package mutating func readIntegerArray(maxCount: Int) -> [Int]? {
        var result: [Int] = []
        return readIntegerArray(maxCount: maxCount, into: &result) ? result : nil
    }

    /// ``readIntegerArray(maxCount:)`` into `result` (emptied first, its storage reused): `false`, having
    /// consumed nothing, for anything but plain integers.
    package mutating func readIntegerArray(maxCount: Int, into result: inout [Int]) -> Bool {
        let start = position
        func digit(_ b: UInt8?) -> Bool { b.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
        result.removeAll(keepingCapacity: true)
        guard current == UInt8(ascii: "[") else { return false }
        position += 1
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            position += 1
        } else {
            while true {
                guard digit(current), result.count < maxCount else { position = start; return false }
                var value = 0
                let first = position
                // Up to 18 digits cannot overflow; longer numbers are parsed again with checks.
                while position < bytes.count, case let d = bytes[position] &- 0x30, d < 10 {
                    value = value &* 10 &+ Int(d)
                    position += 1
                }
                if position - first > 18 {
                    value = 0
                    for k in first..<position {
                        let (m, o1) = value.multipliedReportingOverflow(by: 10)
                        let (a, o2) = m.addingReportingOverflow(Int(bytes[k] - 0x30))
                        guard !o1, !o2 else { position = start; return false }
                        value = a
                    }
                }
                // A leading zero, a fraction or an exponent: leave it to the strict path.
                if (bytes[first] == 0x30 && position - first > 1) || current == UInt8(ascii: ".") || current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                    position = start
                    return false
                }
                result.append(value)
                skipWhitespace()
                if current == UInt8(ascii: ",") {
                    position += 1
                    skipWhitespace()
                    continue
                }
                guard current == UInt8(ascii: "]") else { position = start; return false }
                position += 1
                break
            }
        }
        guard values + result.count + 1 <= limits.maxValues else { position = start; return false }
        values += result.count + 1
        return true
    }

    /// The string value that comes next, read without building a `String` (see ``bytes(of:)`` and
    /// ``string(_:)``); `nil`, having consumed nothing, when the next value is not a string.
    package mutating func readRawString() throws(JSONError) -> Key? {
        guard current == UInt8(ascii: "\"") else { return nil }
        values += 1
        guard values <= limits.maxValues else { throw fail(.tooManyValues(limit: limits.maxValues)) }
        return try scanString()
    }

    /// The text of a key or string as it is in the document (escapes unresolved).
    package func bytes(of key: Key) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[key.text]) }

    /// Reads the next value whole.
    package mutating func readValue() throws(JSONError) -> JSONValue {
        try parseValue(depth: keyPath.count)
    }

    /// Checks that only whitespace follows.
    package mutating func finish() throws(JSONError) {
        skipWhitespace()
        guard position == bytes.count else { throw JSONError(reason: .trailingCharacters, offset: position) }
    }

    func fail(_ reason: JSONError.Reason) -> JSONError { JSONError(reason: reason, offset: position) }

    var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipWhitespace() {
        while let b = current, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { position += 1 }
    }

    mutating func expect(_ literal: StaticString, _ value: JSONValue) throws(JSONError) -> JSONValue {
        let n = literal.utf8CodeUnitCount
        guard position + n <= bytes.count else { throw fail(.unexpectedEnd) }
        for i in 0..<n where bytes[position + i] != literal.utf8Start[i] {
            position += i
            throw fail(.unexpectedByte(bytes[position]))
        }
        position += n
        return value
    }

    mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
        values += 1
        guard values <= limits.maxValues else { throw fail(.tooManyValues(limit: limits.maxValues)) }
        guard let b = current else { throw fail(.unexpectedEnd) }
        switch b {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail(.unexpectedByte(b))
        }
    }

    mutating func parseObject(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= limits.maxDepth else { throw fail(.nestingTooDeep(limit: limits.maxDepth)) }
        position += 1
        var members: [(key: String, value: JSONValue)] = []
        var index: [String: Int] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
            return .object(JSONObject(members: [], index: [:]))
        }
        while true {
            skipWhitespace()
            guard let b = current else { throw fail(.unexpectedEnd) }
            guard b == UInt8(ascii: "\"") else { throw fail(.unexpectedByte(b)) }
            let keyStart = position
            let key = try parseString()
            // Small objects (every tensor entry) are checked by scanning: cheaper than hashing.
            let duplicate = members.count < JSONObject.indexThreshold ? members.contains { $0.key == key } : index[key] != nil
            guard !duplicate else {
                throw JSONError(reason: .duplicateKey(key, path: keyPathStrings), offset: keyStart)
            }
            skipWhitespace()
            guard let colon = current else { throw fail(.unexpectedEnd) }
            guard colon == UInt8(ascii: ":") else { throw fail(.unexpectedByte(colon)) }
            position += 1
            skipWhitespace()
            keyPath.append(keyStart)
            let value = try parseValue(depth: depth)
            keyPath.removeLast()
            members.append((key, value))
            if members.count == JSONObject.indexThreshold {
                for (i, m) in members.enumerated() { index[m.key] = i }
            } else if members.count > JSONObject.indexThreshold {
                index[key] = members.count - 1
            }
            skipWhitespace()
            guard let next = current else { throw fail(.unexpectedEnd) }
            position += 1
            if next == UInt8(ascii: "}") { return .object(JSONObject(members: members, index: index)) }
            guard next == UInt8(ascii: ",") else { position -= 1; throw fail(.unexpectedByte(next)) }
        }
    }

    mutating func parseArray(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= limits.maxDepth else { throw fail(.nestingTooDeep(limit: limits.maxDepth)) }
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            position += 1
            return .array([])
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard let next = current else { throw fail(.unexpectedEnd) }
            position += 1
            if next == UInt8(ascii: "]") { return .array(elements) }
            guard next == UInt8(ascii: ",") else { position -= 1; throw fail(.unexpectedByte(next)) }
        }
    }

    mutating func parseNumber() throws(JSONError) -> JSONValue {
        let start = position
        func digits(_ c: inout JSONReader) -> Int {
            let s = c.position
            while let b = c.current, b >= 0x30 && b <= 0x39 { c.position += 1 }
            return c.position - s
        }
        if current == UInt8(ascii: "-") { position += 1 }
        guard let first = current, first >= 0x30 && first <= 0x39 else { throw fail(.invalidNumber) }
        if first == UInt8(ascii: "0") {
            position += 1
        } else {
            _ = digits(&self)
        }
        if current == UInt8(ascii: ".") {
            position += 1
            guard digits(&self) > 0 else { throw fail(.invalidNumber) }
        }
        if let e = current, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            position += 1
            if let s = current, s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { position += 1 }
            guard digits(&self) > 0 else { throw fail(.invalidNumber) }
        }
        let text = UnsafeRawBufferPointer(rebasing: bytes[start..<position])
        if text.count <= 20, text.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            var value: UInt64 = 0
            var fits = true
            for digit in text {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(digit - 0x30))
                if o1 || o2 { fits = false; break }
                value = a
            }
            if fits { return .unsigned(value) }
        }
        return .number(String(decoding: text, as: UTF8.self))
    }

    mutating func parseString() throws(JSONError) -> String {
        try string(scanString())
    }

    /// Moves past the string at `position` (its opening quote), checking only what can be checked
    /// without resolving escapes (those are checked when the string is made).
    mutating func scanString() throws(JSONError) -> Key {
        let quote = position
        position += 1
        let start = position
        var hasEscape = false
        while true {
            // Straight to the next quote, backslash or control character (SIMD in C).
            position += mm1_json_string_stop(bytes.baseAddress! + position, bytes.count - position)
            guard let b = current else { throw fail(.unexpectedEnd) }
            if b == UInt8(ascii: "\"") { break }
            if b < 0x20 { throw fail(.controlCharacterInString) }
            if b == UInt8(ascii: "\\") {
                hasEscape = true
                position += 1
                guard current != nil else { throw fail(.unexpectedEnd) }
            }
            position += 1
        }
        let key = Key(quote: quote, text: start..<position, hasEscape: hasEscape)
        position += 1
        return key
    }

    func unescape(_ raw: UnsafeRawBufferPointer, base: Int) throws(JSONError) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        func bad(_ at: Int) -> JSONError { JSONError(reason: .invalidEscape, offset: base + at) }
        func hex4(_ at: Int) throws(JSONError) -> UInt32 {
            guard at + 4 <= raw.count else { throw bad(at) }
            var v: UInt32 = 0
            for k in 0..<4 {
                let c = raw[at + k]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw bad(at + k)
                }
                v = v << 4 | d
            }
            return v
        }
        while i < raw.count {
            let b = raw[i]
            guard b == UInt8(ascii: "\\") else { out.append(b); i += 1; continue }
            let e = raw[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(i)
                i += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    guard i + 6 <= raw.count, raw[i] == UInt8(ascii: "\\"), raw[i + 1] == UInt8(ascii: "u") else { throw bad(i) }
                    let low = try hex4(i + 2)
                    guard (0xDC00..<0xE000).contains(low) else { throw bad(i) }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                guard let u = Unicode.Scalar(scalar) else { throw bad(i - 4) }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: throw bad(i - 1)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
