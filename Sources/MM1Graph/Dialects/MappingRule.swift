import Foundation

/// How the bytes of one canonical parameter are made from its source tensor(s).
public enum MappingTransform: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The same elements in the same order (the shape may differ only by the target's).
    case copy
    /// A 2-D matrix transposed (Keras Dense kernels are `[in, out]`).
    case transpose
    /// Equal part `index` of `parts` along `axis` (a fused q;k;v, or v5's fused gate;up).
    case split(axis: Int, parts: Int, index: Int)
    /// Several sources, ordered by their captured index, stacked along a new leading axis
    /// (per-expert weights into `[E, …]`).
    case stack
    /// Positions with one extra leading row (an old Honeybee `pos_emb` still holding a class-token slot):
    /// that row is dropped.
    case dropLeadingRow
    /// llama.cpp's rotary row permutation of q and k undone: within each head of `headDim` rows, GGUF row
    /// `2i + j` is row `j·headDim/2 + i` of HF's rotate-half layout. `headDim` 0 in a dialect means "the
    /// config's `language.head_dim`" (the plan fills it in).
    case unpermuteRotary(headDim: Int)

    /// llama.cpp's rotary layout of q/k rows, within each head of `headDim` rows: canonical (rotate-half)
    /// row `h·d + j·d/2 + i` is GGUF row `h·d + 2i + j`. The one place both directions are computed.
    public static func ggufRow(ofCanonicalRow r: Int, headDim d: Int) -> Int {
        let (h, within) = r.quotientAndRemainder(dividingBy: d)
        let (j, i) = within.quotientAndRemainder(dividingBy: d / 2)
        return h * d + 2 * i + j
    }

    /// The inverse of ``ggufRow(ofCanonicalRow:headDim:)``: the canonical row stored at GGUF row `r`.
    public static func canonicalRow(ofGGUFRow r: Int, headDim d: Int) -> Int {
        let (h, within) = r.quotientAndRemainder(dividingBy: d)
        let (i, j) = within.quotientAndRemainder(dividingBy: 2)
        return h * d + j * (d / 2) + i
    }

    public var description: String {
        switch self {
        case .copy: "copy"
        case .transpose: "transpose"
        case .split(let axis, let parts, let index): "split(axis \(axis), part \(index + 1) of \(parts))"
        case .stack: "stack"
        case .dropLeadingRow: "drop leading row"
        case .unpermuteRotary(let d): d == 0 ? "undo rotary permutation" : "undo rotary permutation (head_dim \(d))"
        }
    }

    // JSON form: {"op": "split", "axis": 0} etc. (see Schemas/mapping.schema.json).
    enum CodingKeys: String, CodingKey {
        case op, axis, parts, index
        case headDim = "head_dim"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decode(String.self, forKey: .op) {
        case "copy": self = .copy
        case "transpose": self = .transpose
        case "stack": self = .stack
        case "drop_leading_row": self = .dropLeadingRow
        case "unpermute_rotary": self = .unpermuteRotary(headDim: try c.decodeIfPresent(Int.self, forKey: .headDim) ?? 0)
        case "split":
            self = .split(axis: try c.decodeIfPresent(Int.self, forKey: .axis) ?? 0, parts: try c.decode(Int.self, forKey: .parts),
                          index: try c.decode(Int.self, forKey: .index))
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .op, in: c, debugDescription: "unknown transform \"\(other)\" (copy, transpose, split, stack, drop_leading_row, unpermute_rotary)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .copy: try c.encode("copy", forKey: .op)
        case .transpose: try c.encode("transpose", forKey: .op)
        case .stack: try c.encode("stack", forKey: .op)
        case .dropLeadingRow: try c.encode("drop_leading_row", forKey: .op)
        case .unpermuteRotary(let d):
            try c.encode("unpermute_rotary", forKey: .op)
            if d != 0 { try c.encode(d, forKey: .headDim) }
        case .split(let axis, let parts, let index):
            try c.encode("split", forKey: .op)
            try c.encode(axis, forKey: .axis)
            try c.encode(parts, forKey: .parts)
            try c.encode(index, forKey: .index)
        }
    }
}

/// One line of a naming dialect: source names matching `pattern` become the canonical names in
/// `targets` (with `$1`, `$2` … replaced by the pattern's groups), each made by its transform.
///
/// A fused tensor has several targets (q, k, v each a `split`); per-expert tensors share one
/// target with `stack`, ordered by the group named in `stackIndex`.
public struct MappingRule: Sendable, Equatable, Codable {
    public struct Target: Sendable, Equatable, Codable {
        public var name: String
        public var transform: MappingTransform
        public init(_ name: String, _ transform: MappingTransform = .copy) {
            self.name = name
            self.transform = transform
        }
    }

    /// A regular expression matched against the whole source name.
    public var pattern: String
    public var targets: [Target]
    /// For `stack`: which capture group (1-based) orders the sources.
    public var stackIndex: Int?

    enum CodingKeys: String, CodingKey {
        case pattern, targets
        case stackIndex = "stack_index"
    }

    public init(_ pattern: String, _ targets: [Target], stackIndex: Int? = nil) {
        self.pattern = pattern
        self.targets = targets
        self.stackIndex = stackIndex
    }

    /// A rule with one target.
    public init(_ pattern: String, _ target: String, _ transform: MappingTransform = .copy, stackIndex: Int? = nil) {
        self.init(pattern, [Target(target, transform)], stackIndex: stackIndex)
    }
}

/// A named set of rules for one framework's names of one or more components.
///
/// This is also the format of a user's `--mapping` file (`Schemas/mapping.schema.json`): built-in
/// dialects are the same data, run by the same engine.
public struct Dialect: Sendable, Codable {
    public var name: String
    public var rules: [MappingRule]
    /// Source tensors the framework stores that the graph does not use (buffers, heads of other
    /// tasks), each with the reason; they are listed in the report as ignored, not unmapped.
    public var ignore: [IgnoreRule]

    public struct IgnoreRule: Sendable, Equatable, Codable {
        public var pattern: String
        public var reason: String
        public init(_ pattern: String, _ reason: String) {
            self.pattern = pattern
            self.reason = reason
        }
    }

    public init(name: String, rules: [MappingRule], ignore: [IgnoreRule] = []) {
        self.name = name
        self.rules = rules
        self.ignore = ignore
    }

    enum CodingKeys: String, CodingKey { case name, rules, ignore }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        rules = try c.decode([MappingRule].self, forKey: .rules)
        ignore = try c.decodeIfPresent([IgnoreRule].self, forKey: .ignore) ?? []
    }
}
