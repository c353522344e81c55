import Foundation

/// The one JSON style mm1conv writes for people and for diffs: pretty, sorted keys, slashes kept.
/// Sorted keys make configs, manifests and reports byte-identical across runs.
public enum StableJSON {
    public static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Reports may carry an infinite error (a NaN or Inf where the reference is finite).
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(value)
    }

    /// The encoding as a string.
    public static func text(_ value: some Encodable) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }
}
