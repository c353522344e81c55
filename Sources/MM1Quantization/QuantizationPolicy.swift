import Foundation
import MM1Graph
import MM1Tensor

/// Which parameters a quantization stores in fewer bits, and how.
///
/// By default the large linear weights of every component and the experts are quantized; norms,
/// biases, position embeddings, the class token, convolutions (the patch embedding and the
/// C-Abstractor's), learned queries, the MoE router, the token embedding and the output head stay
/// in float. `--type REGEX=TARGET` rules (first match wins) and `--keep REGEX` override that. A
/// parameter whose input dimension the group size does not divide falls back to int8 per output
/// channel, and the report says so.
public struct QuantizationPolicy: Sendable {
    /// What a rule turns a parameter into.
    public enum Target: Sendable, Equatable, CustomStringConvertible {
        case int8, int4
        /// Kept in float, as this dtype.
        case float(DType)

        /// `int8`, `int4`, `f16`, `bf16` or `f32`.
        public init?(_ text: String) {
            switch text {
            case "int8": self = .int8
            case "int4": self = .int4
            case "f16": self = .float(.f16)
            case "bf16": self = .float(.bf16)
            case "f32": self = .float(.f32)
            default: return nil
            }
        }

        public var description: String {
            switch self {
            case .int8: "int8"
            case .int4: "int4"
            case .float(let d): d.rawValue.lowercased()
            }
        }
    }

    /// A `--type REGEX=TARGET` rule.
    public struct Rule: Sendable {
        public let pattern: String
        public let target: Target
        let regex: SharedRegex

        /// Parses `REGEX=TARGET`.
        /// - Throws: ``QuantizationPolicyError`` for a missing `=`, a bad expression or an unknown target.
        public init(_ text: String) throws(QuantizationPolicyError) {
            guard let eq = text.lastIndex(of: "=") else { throw .badRule(text, "expected REGEX=int8|int4|f16|bf16|f32") }
            let pattern = String(text[..<eq]), target = String(text[text.index(after: eq)...])
            guard let t = Target(target) else { throw .badRule(text, "unknown target \"\(target)\" (int8, int4, f16, bf16 or f32)") }
            self.pattern = pattern
            self.target = t
            do { regex = try SharedRegex(pattern) } catch { throw .badRule(text, "not a regular expression") }
        }

        init(pattern: String, target: Target) throws(QuantizationPolicyError) {
            self.pattern = pattern
            self.target = target
            do { regex = try SharedRegex(pattern) } catch { throw .badRule(pattern, "not a regular expression") }
        }
    }

    /// The bits of the default target.
    public var bits: QuantizedBits
    public var mode: QuantizationMode
    /// Elements per group; `nil` for one group per row (per output channel; int8 only).
    public var groupSize: Int?
    /// f16 (default) or f32.
    public var scaleDType: DType = .f16
    public var optimizeScales = false
    /// `--type` rules, tried in order before everything else.
    public var rules: [Rule] = []
    /// `--keep` expressions: matching parameters stay in float.
    public var keep: [Rule] = []

    public init(bits: QuantizedBits, mode: QuantizationMode = .symmetric, groupSize: Int?) {
        self.bits = bits
        self.mode = mode
        self.groupSize = groupSize
    }

    /// Adds a `--keep REGEX`.
    public mutating func keep(_ pattern: String) throws(QuantizationPolicyError) { keep.append(try Rule(pattern: pattern, target: .float(.f32))) }

    /// What happens to one parameter.
    public enum Decision: Sendable, Equatable {
        /// Stored in float: the import's dtype (`nil`) or the rule's.
        case float(DType?)
        case quantize(QuantizedFormat)
    }

    /// How the manifest's decisions mark a fallback.
    public static let fallbackPrefix = "fallback: "

    /// Decides `spec`'s storage; `note` receives the reason (starting with ``fallbackPrefix``) when a parameter falls back.
    public func decide(_ spec: ParameterSpec, note: (String) -> Void) -> Decision {
        var target: Target? = nil
        if let rule = rules.first(where: { $0.regex.matches(spec.name) }) {
            target = rule.target
        } else if keep.contains(where: { $0.regex.matches(spec.name) }) {
            return .float(nil)
        } else if spec.role == .linearWeight || spec.role == .expertWeight {
            target = bits == .int8 ? .int8 : .int4
        }
        switch target {
        case nil: return .float(nil)
        case .float(let d): return .float(d)
        case .int8, .int4:
            guard spec.shape.rank >= 2 else {
                note(Self.fallbackPrefix + "\(spec.name) \(spec.shape): not a matrix; kept in float")
                return .float(nil)
            }
            let cols = spec.shape.dimensions.last!
            let wanted: QuantizedBits = target == .int8 ? .int8 : .int4
            // int8 without a group size is per output channel; with a rule's int4 and no group size, 32.
            let group = groupSize ?? (wanted == .int8 ? cols : 32)
            let first = QuantizedFormat(bits: wanted, mode: mode(for: wanted), groupSize: group)
            if (try? first.layout(of: spec.shape.dimensions)) != nil { return .quantize(first) }
            note(Self.fallbackPrefix + "\(spec.name) \(spec.shape): input dimension \(cols) is not a multiple of the group size \(group); stored as int8 per output channel")
            return .quantize(QuantizedFormat(bits: .int8, mode: mode(for: .int8), groupSize: cols))
        }
    }

    /// The policy's mode for `bits`: the nonlinear grid is int4's, so int8 (targets and fallbacks) is
    /// symmetric under it.
    func mode(for bits: QuantizedBits) -> QuantizationMode {
        bits == .int8 && mode == .nonlinear ? .symmetric : mode
    }
}

/// A bad quantization option.
public enum QuantizationPolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    case badRule(String, String)
    case badGroupSize(Int, String)
    case alreadyQuantized(String)
    /// A parameter is named like another parameter's quantization part (`X.scales`, `X.biases`).
    case nameCollision(String)

    public var description: String {
        switch self {
        case .badRule(let r, let why): "--type/--keep \"\(r)\": \(why)"
        case .badGroupSize(let g, let why): "--group-size \(g): \(why)"
        case .alreadyQuantized(let p): "\(p) is already quantized; quantize its unquantized source instead"
        case .nameCollision(let name): "parameter \(name) collides with another parameter's quantization scales or biases"
        }
    }
}
