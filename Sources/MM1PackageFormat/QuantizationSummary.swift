import MM1Graph
import MM1Quantization

/// Bits per weight and sizes of a (quantized) package, per part of the model: vision encoder,
/// connector, decoder (without the experts) and experts.
public struct QuantizationSummary: Encodable, Sendable, Equatable {
    public struct Part: Encodable, Sendable, Equatable {
        public var name: String
        public var parameters = 0
        /// How many of them are quantized.
        public var quantized = 0
        /// Elements of the parameters.
        public var weights = 0
        /// Stored bytes (codes, scales and biases for quantized parameters).
        public var bytes = 0
        public var bitsPerWeight: Double { weights == 0 ? 0 : Double(bytes * 8) / Double(weights) }

        enum CodingKeys: String, CodingKey { case name, parameters, quantized, weights, bytes, bitsPerWeight = "bits_per_weight" }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(parameters, forKey: .parameters)
            try c.encode(quantized, forKey: .quantized)
            try c.encode(weights, forKey: .weights)
            try c.encode(bytes, forKey: .bytes)
            try c.encode((bitsPerWeight * 1000).rounded() / 1000, forKey: .bitsPerWeight)
        }
    }

    /// vision, connector, decoder, experts, then the total.
    public var parts: [Part]
    /// Tensor bytes of the source's parameters.
    public var bytesBefore: Int

    enum CodingKeys: String, CodingKey { case parts, bytesBefore = "bytes_before" }

    /// Summarises `manifest` (a package just written); `bytesBefore` is the source's parameter bytes.
    public init(manifest: PackageManifest, bytesBefore: Int) throws {
        let graph = try MM1Model(graphOf: manifest.config)
        var parts = ["vision", "connector", "decoder", "experts"].map { Part(name: $0) }
        var total = Part(name: "total")
        for spec in graph.specs {
            let index = spec.role == .expertWeight ? 3 : (spec.component == .vision ? 0 : (spec.component == .connector ? 1 : 2))
            guard let entry = manifest.tensors[spec.name] else { continue }
            var bytes = entry.bytes
            if let q = entry.quantization {
                bytes += manifest.tensors[q.scales]?.bytes ?? 0
                if let b = q.biases { bytes += manifest.tensors[b]?.bytes ?? 0 }
            }
            for i in [index, -1] {
                var p = i < 0 ? total : parts[i]
                p.parameters += 1
                p.quantized += entry.quantization == nil ? 0 : 1
                p.weights += spec.shape.elementCount
                p.bytes += bytes
                if i < 0 { total = p } else { parts[i] = p }
            }
        }
        self.parts = parts.filter { $0.parameters > 0 } + [total]
        self.bytesBefore = bytesBefore
    }

    /// The stored bytes of every parameter.
    public var bytesAfter: Int { parts.last?.bytes ?? 0 }

    /// A text table.
    public func table() -> String {
        func mib(_ b: Int) -> String { b >= 1 << 20 ? String(format: "%.1f MiB", Double(b) / 1048576) : String(format: "%.1f KiB", Double(b) / 1024) }
        var text = "part        parameters  quantized  weights        bits/weight  size\n"
        for p in parts {
            text += p.name.padding(toLength: 12, withPad: " ", startingAt: 0)
                + String(p.parameters).padding(toLength: 12, withPad: " ", startingAt: 0)
                + String(p.quantized).padding(toLength: 11, withPad: " ", startingAt: 0)
                + String(p.weights).padding(toLength: 15, withPad: " ", startingAt: 0)
                + String(format: "%-13.3f", p.bitsPerWeight) + mib(p.bytes) + "\n"
        }
        text += "size: \(mib(bytesBefore)) → \(mib(bytesAfter)) (\(String(format: "%.2f", Double(bytesBefore) / Double(max(1, bytesAfter))))× smaller)\n"
        return text
    }
}
