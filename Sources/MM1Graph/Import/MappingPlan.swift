import Foundation
import MM1Tensor

/// Which source tensors make each canonical parameter, and how: the result of running naming
/// dialects over a checkpoint's tensor names against a graph. Built once, before anything is written.
public struct MappingPlan: Sendable {
    public struct Assignment: Sendable {
        public let spec: ParameterSpec
        /// Source tensors in order (several only for `stack`).
        public let sources: [TensorInfo]
        public let transform: MappingTransform
        public let dialect: String
    }

    /// One assignment per graph parameter, in graph order (only complete when ``report`` is).
    public let assignments: [Assignment]
    public let report: ImportReport

    /// Maps `tensors` onto the graph of `config` with `dialects`, tried in order.
    /// - Parameters:
    ///   - allowUnused: patterns of source tensors that may be left over (reported as allowed).
    public init(tensors: [TensorInfo], config: MM1Config, dialects: [Dialect], allowUnused: [String] = []) throws {
        let graph = try MM1Model(graphOf: config)
        let specs = Dictionary(uniqueKeysWithValues: graph.specs.map { ($0.name, $0) })
        let compiled = try dialects.map { try CompiledDialect($0) }
        let allowed = try allowUnused.map { try CompiledDialect.compile($0, field: "--allow-unused") }
        var report = ImportReport()

        struct Claim {
            var sources: [(index: Int, info: TensorInfo)]
            var transform: MappingTransform
            var dialect: String
        }
        var claims: [String: Claim] = [:]
        var dialectsUsed: [Component: Set<String>] = [:]

        for info in tensors {
            var entry = ImportReport.SourceEntry(name: info.name, dtype: info.dtype.rawValue, shape: info.shape.dimensions, fate: .unmapped)
            defer { report.sources.append(entry) }
            guard let (dialect, rule, groups) = Self.firstMatch(info.name, compiled) else {
                if let reason = Self.ignoreReason(info.name, compiled) {
                    entry = .init(name: entry.name, dtype: entry.dtype, shape: entry.shape, fate: .ignored, reason: reason)
                } else if let pattern = allowed.first(where: { $0.matches(info.name) }) {
                    entry = .init(name: entry.name, dtype: entry.dtype, shape: entry.shape, fate: .allowedUnused, reason: "--allow-unused \(pattern.pattern)")
                } else {
                    entry.reason = "no rule of the dialects in use matches this name"
                }
                continue
            }
            let names = rule.targets.map { Template.expand($0.name, groups) }
            let unknown = names.filter { specs[$0] == nil }
            guard unknown.isEmpty else {
                entry.reason = "maps to \(unknown.joined(separator: ", ")), which the configuration does not have" + Self.hint(unknown[0], config)
                entry.dialect = dialect
                continue
            }
            entry = .init(name: entry.name, dtype: entry.dtype, shape: entry.shape, fate: .mapped,
                          targets: zip(names, rule.targets).map { "\($0) (\($1.transform))" }, dialect: dialect)
            for (name, target) in zip(names, rule.targets) {
                dialectsUsed[specs[name]!.component, default: []].insert(dialect)
                let order = rule.stackIndex.flatMap { Int(groups[$0]) } ?? 0
                if var claim = claims[name] {
                    if target.transform == .stack && claim.transform == .stack {
                        claim.sources.append((order, info))
                        claims[name] = claim
                    } else {
                        report.conflicts.append("\(name) is claimed by both \(claim.sources[0].info.name) and \(info.name)")
                    }
                } else {
                    var transform = target.transform
                    if case .unpermuteRotary(0) = transform { transform = .unpermuteRotary(headDim: config.language.headDim) }
                    claims[name] = Claim(sources: [(order, info)], transform: transform, dialect: dialect)
                }
            }
        }

        var assignments: [Assignment] = []
        for spec in graph.specs {
            guard let claim = claims[spec.name] else {
                report.missing.append(spec.name)
                continue
            }
            let ordered = claim.sources.sorted { $0.index < $1.index }
            if claim.transform == .stack, ordered.map(\.index) != Array(0..<ordered.count) {
                report.conflicts.append("\(spec.name): stacked sources have indices \(ordered.map(\.index)), expected 0..<\(ordered.count)")
                continue
            }
            let sources = ordered.map(\.info)
            switch ShapeCheck.result(of: claim.transform, sources: sources, target: spec) {
            case .success(let trimmed):
                if trimmed {
                    report.decisions.append("\(spec.name): \(sources[0].name) has one position more than the \(spec.shape.dimensions[0]) patches (an old checkpoint's class-token slot); its first row was dropped")
                }
                assignments.append(Assignment(spec: spec, sources: sources, transform: claim.transform, dialect: claim.dialect))
            case .failure(let failure):
                report.mismatches.append(.init(parameter: spec.name, expected: spec.shape.dimensions, found: failure.found,
                                               sources: sources.map(\.name), fields: ConfigFields.deciding(spec, config), detail: failure.detail))
            }
        }

        // Tied embeddings are an explicit decision.
        if config.language.tieWordEmbeddings {
            report.decisions.append("language.tie_word_embeddings is true: the output head is the token embedding; no lm_head parameter is stored")
        } else {
            report.decisions.append("language.tie_word_embeddings is false: the output head is stored as language.lm_head.weight")
        }
        report.dialects = Dictionary(uniqueKeysWithValues: dialectsUsed.map { ($0.key.rawValue, $0.value.sorted()) })
        self.assignments = assignments
        self.report = report
    }

    static func firstMatch(_ name: String, _ dialects: [CompiledDialect]) -> (String, MappingRule, [String])? {
        for d in dialects {
            for (regex, rule) in d.rules {
                if let groups = regex.captures(name) { return (d.dialect.name, rule, groups) }
            }
        }
        return nil
    }

    static func ignoreReason(_ name: String, _ dialects: [CompiledDialect]) -> String? {
        for d in dialects {
            for (regex, rule) in d.ignore where regex.matches(name) { return "\(rule.reason) (\(d.dialect.name))" }
        }
        return nil
    }

    /// A hint for a name the graph lacks, e.g. a layer index beyond the configured count.
    static func hint(_ name: String, _ config: MM1Config) -> String {
        if name == "language.lm_head.weight", config.language.tieWordEmbeddings {
            return " (language.tie_word_embeddings is true, so no output head is stored: set it to false to keep this one, or --allow-unused it if it equals the token embedding)"
        }
        let parts = name.split(separator: ".")
        guard parts.count > 2, parts[1] == "layers", let index = Int(parts[2]) else { return "" }
        let count = parts[0] == "vision" ? config.vision.depth : config.language.layers
        let field = parts[0] == "vision" ? "vision.depth" : "language.layers"
        return index >= count ? " (layer \(index), but \(field) is \(count))" : ""
    }
}

/// A dialect with its patterns compiled.
struct CompiledDialect {
    let dialect: Dialect
    let rules: [(NSRegularExpression, MappingRule)]
    let ignore: [(NSRegularExpression, Dialect.IgnoreRule)]

    init(_ dialect: Dialect) throws {
        self.dialect = dialect
        rules = try dialect.rules.enumerated().map { (i, rule) in
            (try Self.compile(rule.pattern, field: "\(dialect.name): rules[\(i)].pattern"), rule)
        }
        ignore = try dialect.ignore.enumerated().map { (i, rule) in
            (try Self.compile(rule.pattern, field: "\(dialect.name): ignore[\(i)].pattern"), rule)
        }
    }

    /// A pattern that is not a regular expression is a configuration error naming the rule.
    static func compile(_ pattern: String, field: String) throws -> NSRegularExpression {
        do { return try NSRegularExpression(pattern: pattern) } catch {
            throw ConfigError(field: field, reason: "\"\(pattern)\" is not a regular expression")
        }
    }
}

extension NSRegularExpression {
    /// Whether the pattern matches the whole of `s`... or any part, as written: rules anchor themselves.
    func matches(_ s: String) -> Bool { firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil }

    /// The capture groups of a match of `s` (index 0 = whole match), or `nil`.
    func captures(_ s: String) -> [String]? {
        guard let m = firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) else { return nil }
        return (0..<m.numberOfRanges).map { i in
            Range(m.range(at: i), in: s).map { String(s[$0]) } ?? ""
        }
    }
}

/// Target-name templates: `$1`, `${1}` and `${1-1}` (group 1 minus one, for 1-based source indices).
enum Template {
    static func expand(_ template: String, _ groups: [String]) -> String {
        var out = ""
        var i = template.startIndex
        while i < template.endIndex {
            let c = template[i]
            guard c == "$" else { out.append(c); i = template.index(after: i); continue }
            var j = template.index(after: i)
            if j < template.endIndex, template[j] == "{", let close = template[j...].firstIndex(of: "}") {
                let body = template[template.index(after: j)..<close]
                let pieces = body.split(separator: "-", maxSplits: 1)
                if let n = Int(pieces[0]), n < groups.count {
                    if pieces.count == 2, let minus = Int(pieces[1]), let v = Int(groups[n]) { out += String(v - minus) } else { out += groups[n] }
                }
                i = template.index(after: close)
                continue
            }
            var digits = ""
            while j < template.endIndex, template[j].isNumber { digits.append(template[j]); j = template.index(after: j) }
            if let n = Int(digits), n < groups.count { out += groups[n] } else { out += "$" + digits }
            i = j
        }
        return out
    }
}
