import MM1Tensor

/// Everything an import decided, in one value: the fate of every source tensor, every parameter
/// left unset, every shape that disagrees with the configuration, and the decisions taken
/// (tied embeddings, trimmed positions). Rendered as a table or as JSON.
public struct ImportReport: Sendable, Codable {
    /// What became of one source tensor.
    public struct SourceEntry: Sendable, Codable, Equatable {
        public enum Fate: String, Sendable, Codable { case mapped, ignored, allowedUnused = "allowed_unused", unmapped }
        public let name: String
        public let dtype: String
        public let shape: [Int]
        public let fate: Fate
        /// Canonical parameters it feeds, each with its transform (`mapped`).
        public var targets: [String] = []
        public var dialect: String?
        /// Why it is ignored, allowed or unmapped.
        public var reason: String?
    }

    /// A parameter whose source has the wrong shape.
    public struct Mismatch: Sendable, Codable, Equatable {
        public let parameter: String
        public let expected: [Int]
        public let found: [Int]
        public let sources: [String]
        /// Configuration fields that decide the expected shape.
        public let fields: [String]
        public let detail: String
    }

    public var sources: [SourceEntry] = []
    /// Parameters of the graph no source tensor provides.
    public var missing: [String] = []
    public var mismatches: [Mismatch] = []
    /// Two sources claiming one parameter, or a stack with gaps.
    public var conflicts: [String] = []
    /// Decisions the import took that a user should know about.
    public var decisions: [String] = []
    /// Dialects that named tensors, per component.
    public var dialects: [String: [String]] = [:]

    public init() {}

    /// True when every parameter is set, every source accounted for, and nothing disagrees.
    public var isComplete: Bool {
        missing.isEmpty && mismatches.isEmpty && conflicts.isEmpty && !sources.contains { $0.fate == .unmapped }
    }

    /// Source tensors nothing uses and nothing excuses.
    public var unmapped: [SourceEntry] { sources.filter { $0.fate == .unmapped } }

    /// A human summary: counts, then every problem, then decisions.
    public func table() -> String {
        var lines: [String] = []
        let counts = Dictionary(grouping: sources, by: \.fate).mapValues(\.count)
        lines.append("source tensors: \(sources.count) (\(counts[.mapped] ?? 0) mapped, \(counts[.ignored] ?? 0) ignored, \(counts[.allowedUnused] ?? 0) allowed unused, \(counts[.unmapped] ?? 0) unmapped)")
        for component in dialects.keys.sorted() { lines.append("dialect for \(component): \(dialects[component]!.joined(separator: ", "))") }
        for entry in unmapped { lines.append("UNMAPPED  \(entry.name) \(entry.dtype) \(entry.shape)\(entry.reason.map { ": \($0)" } ?? "")") }
        for name in missing { lines.append("MISSING   \(name)") }
        for m in mismatches {
            lines.append("SHAPE     \(m.parameter): expected \(m.expected) but \(m.sources.joined(separator: ", ")) gives \(m.found)\(m.fields.isEmpty ? "" : " (check \(m.fields.joined(separator: ", ")))"): \(m.detail)")
        }
        for c in conflicts { lines.append("CONFLICT  \(c)") }
        for e in sources where e.fate == .ignored || e.fate == .allowedUnused { lines.append("ignored   \(e.name): \(e.reason ?? "")") }
        for d in decisions { lines.append("decision  \(d)") }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// An import that cannot produce a complete model; carries the full report.
public struct ImportError: Error, Sendable, CustomStringConvertible {
    public let report: ImportReport
    public init(report: ImportReport) { self.report = report }
    public var description: String {
        "the checkpoint does not match the configuration (\(report.unmapped.count) unmapped, \(report.missing.count) missing, \(report.mismatches.count) mis-shaped, \(report.conflicts.count) conflicting):\n" + report.table()
    }
}
