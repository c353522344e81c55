/// A configuration that cannot describe a model: which field (as its JSON key path) and why.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The JSON key path of the field, e.g. `"language.kv_heads"`.
    public let field: String
    public let reason: String
    /// The file the configuration came from, when known.
    public var file: String?

    public init(field: String, reason: String, file: String? = nil) {
        self.field = field
        self.reason = reason
        self.file = file
    }

    public var description: String { "\(file.map { "\($0): " } ?? "")\(field): \(reason)" }
}

/// Collects every problem of a configuration, so one run reports them all.
struct ConfigChecker {
    var errors: [ConfigError] = []
    let prefix: String

    mutating func require(_ condition: Bool, _ field: String, _ reason: @autoclosure () -> String) {
        if !condition { errors.append(ConfigError(field: prefix + field, reason: reason())) }
    }

    mutating func positive(_ value: Int, _ field: String) {
        require(value > 0, field, "must be positive, is \(value)")
    }

    /// The largest size any dimension, count or id may have (2^24): far above every real model's
    /// (vocabularies of 256k, widths of 16k), and low enough that products of a few never overflow.
    static let sizeLimit = 1 << 24

    /// The most layers, blocks or experts a component may have (2^12): real models have at most a few
    /// hundred; each one makes graph nodes, so an absurd count would build millions of them.
    static let countLimit = 1 << 12

    /// `value` is a positive count no larger than ``countLimit``; returns whether it is.
    @discardableResult
    mutating func count(_ value: Int, _ field: String) -> Bool {
        positive(value, field)
        require(value <= Self.countLimit, field, "is \(value), more than any model has (limit \(Self.countLimit))")
        return value > 0 && value <= Self.countLimit
    }

    /// `value` is a positive size no larger than ``sizeLimit``; returns whether it is.
    @discardableResult
    mutating func size(_ value: Int, _ field: String) -> Bool {
        positive(value, field)
        require(value <= Self.sizeLimit, field, "is \(value), larger than any model's (limit \(Self.sizeLimit))")
        return value > 0 && value <= Self.sizeLimit
    }
}
