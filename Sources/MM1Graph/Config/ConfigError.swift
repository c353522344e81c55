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
}
