import Foundation

/// Names canonical parameters in a framework's dialect: the inverse of the dialects' plain-copy
/// rules, used to export a package as that framework's checkpoint.
///
/// A rule `^(?:p1|p2|…)rest$ → template` is inverted by matching the canonical name against the
/// template (`$N` standing for group N), then writing the pattern out with each group replaced by
/// its value and the first alternative of every non-capturing group. Every name made is checked by
/// running the rule forward: it must map back onto the same canonical name, or the rule is skipped.
/// Rules with transforms (fused q/k/v splits, per-expert stacks, transposes, rotary permutations)
/// have no single-tensor inverse and are not used.
public struct DialectNamer: Sendable {
    public let dialects: [Dialect]
    private let rules: [(dialect: String, rule: MappingRule, forward: SharedRegex, template: SharedRegex, groups: [(n: Int, minus: Int)])]

    public init(dialects: [Dialect]) {
        self.dialects = dialects
        var rules: [(String, MappingRule, SharedRegex, SharedRegex, [(n: Int, minus: Int)])] = []
        for d in dialects {
            // A dropped leading row (an old Honeybee position table) also accepts the table as it is: a copy.
            for rule in d.rules where rule.targets.count == 1 && [.copy, .dropLeadingRow].contains(rule.targets[0].transform) && rule.stackIndex == nil {
                guard let forward = try? NSRegularExpression(pattern: rule.pattern) else { continue }
                // The template as a pattern: literal text escaped, each $N (or ${N-k}: group N minus k) a group.
                var pattern = "^", groups: [(n: Int, minus: Int)] = []
                var rest = Substring(rule.targets[0].name)
                while let dollar = rest.firstIndex(of: "$") {
                    pattern += NSRegularExpression.escapedPattern(for: String(rest[..<dollar]))
                    let after = rest[rest.index(after: dollar)...]
                    if after.first == "{", let close = after.firstIndex(of: "}") {
                        let pieces = after[after.index(after: after.startIndex)..<close].split(separator: "-", maxSplits: 1)
                        guard let n = Int(pieces[0]) else { break }
                        groups.append((n, pieces.count == 2 ? Int(pieces[1]) ?? 0 : 0))
                        pattern += pieces.count == 2 ? "(\\d+)" : "(.+?)"
                        rest = rest[rest.index(after: close)...]
                        continue
                    }
                    let digits = after.prefix { $0.isNumber }
                    guard let n = Int(digits) else { break }
                    groups.append((n, 0))
                    pattern += "(.+?)"
                    rest = rest[rest.index(dollar, offsetBy: 1 + digits.count)...]
                }
                pattern += NSRegularExpression.escapedPattern(for: String(rest)) + "$"
                guard let template = try? NSRegularExpression(pattern: pattern) else { continue }
                rules.append((d.name, rule, SharedRegex(forward), SharedRegex(template), groups))
            }
        }
        self.rules = rules
    }

    /// The source name the dialects map onto `canonical` by a plain copy, and its dialect; nil when
    /// no rule can name it.
    public func sourceName(for canonical: String) -> (name: String, dialect: String)? {
        let whole = NSRange(canonical.startIndex..., in: canonical)
        for (dialect, rule, forward, template, groups) in rules {
            guard let m = template.regex.firstMatch(in: canonical, range: whole) else { continue }
            var values: [Int: String] = [:]
            for (i, g) in groups.enumerated() {
                guard let r = Range(m.range(at: i + 1), in: canonical) else { continue }
                let text = String(canonical[r])
                values[g.n] = g.minus == 0 ? text : Int(text).map { String($0 + g.minus) } ?? text
            }
            guard let name = Self.render(rule.pattern, values) else { continue }
            // Forward again, as the import does: the name must match the rule and map back onto `canonical`.
            let range = NSRange(name.startIndex..., in: name)
            guard let back = forward.regex.firstMatch(in: name, range: range), back.range == range else { continue }
            let captured = (0..<back.numberOfRanges).map { Range(back.range(at: $0), in: name).map { String(name[$0]) } ?? "" }
            guard Template.expand(rule.targets[0].name, captured) == canonical else { continue }
            return (name, dialect)
        }
        return nil
    }

    /// `pattern` written out: escapes unescaped, capturing group N replaced by `values[N]`, the first
    /// alternative of each non-capturing group taken (an optional one included); nil for anything
    /// else (classes, quantifiers on literals).
    static func render(_ pattern: String, _ values: [Int: String]) -> String? {
        var chars = Array(pattern)
        if chars.first == "^" { chars.removeFirst() }
        if chars.last == "$" { chars.removeLast() }
        var out = "", i = 0, group = 0
        func closing(_ open: Int) -> Int? {
            var depth = 0, j = open
            while j < chars.count {
                if chars[j] == "\\" { j += 2; continue }
                if chars[j] == "(" { depth += 1 } else if chars[j] == ")" { depth -= 1; if depth == 0 { return j } }
                j += 1
            }
            return nil
        }
        func firstAlternative(_ body: [Character]) -> [Character] {
            var depth = 0, j = 0
            while j < body.count {
                if body[j] == "\\" { j += 2; continue }
                if body[j] == "(" { depth += 1 } else if body[j] == ")" { depth -= 1 } else if body[j] == "|", depth == 0 { return Array(body[..<j]) }
                j += 1
            }
            return body
        }
        while i < chars.count {
            let c = chars[i]
            if c == "\\", i + 1 < chars.count {
                guard chars[i + 1] == "." || chars[i + 1] == "_" || chars[i + 1] == "-" || chars[i + 1] == "/" else { return nil }
                out.append(chars[i + 1])
                i += 2
            } else if c == "(" {
                guard let end = closing(i) else { return nil }
                if i + 2 < chars.count, chars[i + 1] == "?", chars[i + 2] == ":" {
                    // Non-capturing: render its first alternative (it may hold capturing groups, counted as they come).
                    let inner = firstAlternative(Array(chars[(i + 3)..<end]))
                    var body = "", k = 0
                    while k < inner.count {
                        if inner[k] == "(" {
                            var depth = 0, e = k
                            repeat { if inner[e] == "(" { depth += 1 } else if inner[e] == ")" { depth -= 1 }; e += 1 } while depth > 0 && e < inner.count
                            group += 1
                            guard let v = values[group] else { return nil }
                            body += v
                            k = e
                        } else if inner[k] == "\\", k + 1 < inner.count {
                            body.append(inner[k + 1])
                            k += 2
                        } else if "[]*+?{}|^$".contains(inner[k]) {
                            return nil
                        } else {
                            body.append(inner[k])
                            k += 1
                        }
                    }
                    out += body
                    i = end + 1
                    if i < chars.count, chars[i] == "?" { i += 1 }
                } else {
                    group += 1
                    guard let v = values[group] else { return nil }
                    out += v
                    i = end + 1
                }
            } else if "[]*+?{}|".contains(c) {
                return nil
            } else {
                out.append(c)
                i += 1
            }
        }
        return out
    }
}

/// A compiled regular expression shared across threads (matching only reads it).
package struct SharedRegex: @unchecked Sendable {
    package let regex: NSRegularExpression
    package init(_ regex: NSRegularExpression) { self.regex = regex }
    package init(_ pattern: String) throws { regex = try NSRegularExpression(pattern: pattern) }

    /// Whether the expression matches anywhere in `s`.
    package func matches(_ s: String) -> Bool { regex.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil }
}
