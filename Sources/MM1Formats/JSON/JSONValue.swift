/// A JSON value parsed by ``StrictJSONParser``, keeping what Foundation's parsers lose: key order,
/// and numbers as their exact source text (so `2` and `2.0` stay different).
public enum JSONValue: Sendable, Equatable {
    case object(JSONObject)
    case array([JSONValue])
    case string(String)
    /// A number written as plain digits that fits `UInt64` (the common case in headers: shapes and
    /// offsets), kept without allocating its text.
    case unsigned(UInt64)
    /// Any other number as written in the file, e.g. `"-3"`, `"2.0"`, `"1.5e3"`, or digits beyond `UInt64`.
    case number(String)
    case bool(Bool)
    case null

    /// The value as an unsigned integer, only when written as plain digits that fit `UInt64`
    /// (`1.0`, `1e0`, `-1` are not integers here, as in serde).
    public var uint64: UInt64? { if case .unsigned(let n) = self { n } else { nil } }

    /// The value as an `Int`, only when written as plain digits that fit.
    public var int: Int? { uint64.flatMap { Int(exactly: $0) } }

    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var object: JSONObject? { if case .object(let o) = self { o } else { nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }

    /// A short name of the value's kind, for messages ("object", "string", …).
    public var kind: String {
        switch self {
        case .object: "object"
        case .array: "array"
        case .string: "string"
        case .unsigned(let n): "number \(n)"
        case .number(let t): "number \(t)"
        case .bool: "boolean"
        case .null: "null"
        }
    }
}

/// A JSON object's members in file order. Keys are unique: the parser rejects duplicates.
public struct JSONObject: Sendable, Equatable {
    public let members: [(key: String, value: JSONValue)]
    private let index: [String: Int]

    init(members: [(key: String, value: JSONValue)], index: [String: Int]) {
        self.members = members
        self.index = index
    }

    /// Objects with fewer members are searched by scanning and carry no hash index.
    static let indexThreshold = 8

    public subscript(key: String) -> JSONValue? {
        if members.count < Self.indexThreshold { return members.first { $0.key == key }?.value }
        return index[key].map { members[$0].value }
    }
    public var keys: [String] { members.map(\.key) }
    public var count: Int { members.count }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.members.count == b.members.count
            && zip(a.members, b.members).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}
