import Foundation
import MM1Graph
import MM1Conversion
import MM1PackageFormat

/// What `inspect --graph` prints: the parameter tree of a configuration, with shapes, and
/// parameter counts per component and per node.
struct GraphReport: Encodable {
    struct Parameter: Encodable {
        let name: String
        let shape: [Int]
        let role: String
        let component: String
        let quantizable: Bool
        let elements: Int
        /// For a package: how it is stored (dtype, or quantized format).
        var stored: String?
    }
    struct ComponentTotal: Encodable {
        let component: String
        let parameters: Int
        let elements: Int
    }
    let origin: String
    let config: MM1Config
    let imageTokens: Int
    let components: [ComponentTotal]
    let totalElements: Int
    var parameters: [Parameter]
    /// For a package: bits per weight and sizes per part.
    var storage: QuantizationSummary?

    /// The report of a package: the graph, with each parameter's stored dtype or quantized format.
    init(package manifest: PackageManifest, origin: String) throws {
        try self.init(config: manifest.config, origin: origin)
        for i in parameters.indices {
            guard let entry = manifest.tensors[parameters[i].name] else { continue }
            if let q = entry.quantization {
                parameters[i].stored = "\(q.bits.rawValue) \(q.mode.rawValue) g\(q.groupSize)" + (q.optimizedScales ? " searched" : "")
            } else {
                parameters[i].stored = entry.dtype.rawValue
            }
        }
        storage = try QuantizationSummary(manifest: manifest, bytesBefore: 0)
    }

    init(config: MM1Config, origin: String) throws {
        let specs = try MM1Model(graphOf: config).specs
        self.origin = origin
        self.config = config
        imageTokens = config.imageTokens
        parameters = specs.map {
            Parameter(name: $0.name, shape: $0.shape.dimensions, role: $0.role.rawValue, component: $0.component.rawValue,
                      quantizable: $0.isQuantizable, elements: $0.shape.elementCount)
        }
        components = Component.allCases.map { c in
            let own = specs.filter { $0.component == c }
            return ComponentTotal(component: c.rawValue, parameters: own.count, elements: own.reduce(0) { $0 + $1.shape.elementCount })
        }
        totalElements = specs.reduce(0) { $0 + $1.shape.elementCount }
    }

    /// The tree: every node with its element count, leaves with their shapes.
    func tree() -> String {
        var lines = ["\(origin): \(Self.count(totalElements)) parameters, \(imageTokens) image tokens per image"]
        // Element counts of every prefix.
        var totals: [String: Int] = [:]
        for p in parameters {
            let parts = p.name.split(separator: ".")
            for i in 1..<parts.count { totals[parts[0..<i].joined(separator: "."), default: 0] += p.elements }
        }
        var printed = Set<String>()
        for p in parameters {
            let parts = p.name.split(separator: ".").map(String.init)
            for i in 1..<parts.count {
                let node = parts[0..<i].joined(separator: ".")
                if printed.insert(node).inserted {
                    lines.append(String(repeating: "  ", count: i - 1) + "\(parts[i - 1])  (\(Self.count(totals[node]!)))")
                }
            }
            let shape = "[" + p.shape.map(String.init).joined(separator: ", ") + "]"
            lines.append(String(repeating: "  ", count: parts.count - 1) + "\(parts.last!)  \(shape)  \(p.role)\(p.quantizable ? "  quantizable" : "")"
                         + (p.stored.map { "  stored \($0)" } ?? ""))
        }
        lines.append("totals:")
        for c in components { lines.append("  \(c.component): \(c.parameters) tensors, \(Self.count(c.elements)) parameters") }
        if let storage {
            lines.append("storage (bits per weight):")
            for p in storage.parts { lines.append("  \(p.name): \(String(format: "%.3f", p.bitsPerWeight)) bits/weight, \(Self.count(p.bytes)) bytes, \(p.quantized) of \(p.parameters) tensors quantized") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// 1234567 → "1,234,567".
    static func count(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return out
    }
}
