import MM1Formats
import Testing

@Suite struct StrictJSONParserTests {
    func parse(_ text: String, depth: Int = 64) throws(JSONError) -> JSONValue {
        try StrictJSONParser(maxDepth: depth).parse(Array(text.utf8))
    }

    func reason(_ text: String, depth: Int = 64) -> String? {
        do { _ = try parse(text, depth: depth); return nil } catch { return error.code }
    }

    @Test("keeps numbers as written and key order")
    func values() throws {
        let v = try parse(#" {"b": [1, 2.0, -3, 1e2], "a": {"x": "y"}, "t": true, "n": null} "#)
        guard case .object(let o) = v else { Issue.record("not an object"); return }
        #expect(o.keys == ["b", "a", "t", "n"])
        #expect(o["b"]?.array?.map { $0.uint64 } == [1, nil, nil, nil])
        #expect(o["b"]?.array?[1] == .number("2.0"))
        #expect(o["a"]?.object?["x"]?.string == "y")
        #expect(try parse("18446744073709551615").uint64 == UInt64.max)
        #expect(try parse("18446744073709551616") == .number("18446744073709551616"))
        #expect(try parse("0") == .unsigned(0))
        #expect(try parse("-0") == .number("-0"))
    }

    @Test("decodes escapes and surrogate pairs")
    func escapes() throws {
        #expect(try parse(#""a\"b\\c\/\n\u00e9\ud83d\ude00""#).string == "a\"b\\c/\n\u{e9}\u{1F600}")
        #expect(reason(#""\ud83d""#) == "invalidEscape")
        #expect(reason(#""\x""#) == "invalidEscape")
    }

    @Test("rejects what Foundation accepts, with the reason", arguments: [
        (#"{"a":1,"a":1}"#, "duplicateKey"), ("{} x", "trailingCharacters"), ("{}\u{0}", "trailingCharacters"),
        ("01", "trailingCharacters"), ("1.", "invalidNumber"), ("-", "invalidNumber"), ("[1,]", "unexpectedByte"),
        ("{\"a\" 1}", "unexpectedByte"), ("\"a\u{1}\"", "controlCharacterInString"), ("", "empty"), ("[", "unexpectedEnd"),
        ("tru", "unexpectedEnd"), ("nul!", "unexpectedByte"), ("\u{FEFF}{}", "unexpectedByte"),
    ])
    func rejects(_ text: String, _ code: String) {
        #expect(reason(text) == code)
    }

    @Test("invalid UTF-8 and nesting beyond the limit are refused without recursion blow-up")
    func limits() throws {
        #expect(throws: JSONError(reason: .invalidUTF8, offset: 0)) { try StrictJSONParser().parse([0x22, 0xFF, 0x22]) }
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(reason(deep) == "nestingTooDeep")
        #expect(reason("[[[]]]", depth: 3) == nil)
        #expect(reason("[[[[]]]]", depth: 3) == "nestingTooDeep")
        #expect(throws: JSONError(reason: .tooManyValues(limit: 3), offset: 5)) { try StrictJSONParser(maxValues: 3).parse(Array("[1,2,3,4]".utf8)) }
    }

    @Test("finds a string's end, escapes and control characters at every offset (the SIMD scan's chunk edges)")
    func stringScanEdges() throws {
        for k in 0..<48 {
            let run = String(repeating: "a", count: k)
            #expect(try parse("\"\(run)\"").string == run)
            #expect(try parse("\"\(run)\\n\(run)é\u{7F} \"").string == run + "\n" + run + "é\u{7F} ")
            #expect(try parse("\"\(run)\\\"\"").string == run + "\"")
            #expect(throws: JSONError(reason: .controlCharacterInString, offset: 1 + k)) { try parse("\"\(run)\u{1F}\"") }
            #expect(throws: JSONError(reason: .controlCharacterInString, offset: 1 + k)) { try parse("\"\(run)\u{0}\"") }
            #expect(throws: JSONError(reason: .unexpectedEnd, offset: 1 + k)) { try parse("\"\(run)") }
        }
    }

    @Test("reads plain integer arrays exactly up to Int.max and leaves anything else untouched")
    func integerArrays() throws {
        func read(_ text: String) throws -> ([Int]?, UInt8?) {
            let bytes = Array(text.utf8)
            return try bytes.withUnsafeBytes { raw in
                var reader = try JSONReader(raw)
                let values = reader.readIntegerArray(maxCount: 8)
                return (values, reader.nextByte)
            }
        }
        #expect(try read("[0, 7, 123456789012345678, 1234567890123456789, 9223372036854775807]").0
                == [0, 7, 123_456_789_012_345_678, 1_234_567_890_123_456_789, Int.max])
        #expect(try read("[ ]").0 == [])
        for text in ["[9223372036854775808]", "[99999999999999999999]", "[01]", "[1.0]", "[1e3]", "[-1]", "[1,]", "[1 2]"] {
            let (values, next) = try read(text)
            #expect(values == nil, "\(text)")
            #expect(next == UInt8(ascii: "["), "\(text): nothing consumed")
        }
    }
}
