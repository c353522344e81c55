import MM1Formats
import MM1Graph
import MM1Quantization
import MM1Tensor
import MM1PackageFormat

/// How each parameter of an import is stored: the safetensors entries to write and, for each,
/// the parameter and piece it holds. A quantized parameter becomes its codes (under its own name),
/// `NAME.scales` and, affine, `NAME.biases`.
struct StorageLayout {
    enum Piece: Hashable { case codes, scales, biases }

    enum Part {
        case plain(MappingPlan.Assignment)
        case quantized(MappingPlan.Assignment, QuantizedLayout, Piece)
    }

    private(set) var entries: [SafetensorsLayout.Entry] = []
    private(set) var parts: [String: Part] = [:]
    /// Manifest records of the quantized parameters, by codes name.
    private(set) var quantization: [String: PackageManifest.Quantization] = [:]
    /// Fallbacks and rule outcomes, for the manifest's decisions.
    private(set) var notes: [String] = []
    /// Elements of the largest quantized parameter (its f32 scratch).
    private(set) var largestQuantizedCount = 0
    let scaleDType: DType
    let optimizeScales: Bool

    init(plan: MappingPlan, dtype: OutputDType, policy: QuantizationPolicy?) throws {
        scaleDType = policy?.scaleDType ?? .f16
        optimizeScales = policy?.optimizeScales ?? false
        var requestedGroupUsed = false, anyQuantized = false
        for a in plan.assignments {
            let name = a.spec.name
            var fallbacks: [String] = []
            let decision = policy?.decide(a.spec) { fallbacks.append($0) } ?? .float(nil)
            notes += fallbacks
            switch decision {
            case .float(let forced):
                entries.append(.init(name: name, dtype: forced ?? dtype.dtype(for: a.sources[0].dtype), shape: a.spec.shape))
                parts[name] = .plain(a)
            case .quantize(let format):
                let layout = try format.layout(of: a.spec.shape.dimensions)  // decide() only returns valid formats
                anyQuantized = true
                if fallbacks.isEmpty { requestedGroupUsed = true }
                let affine = format.mode == .affine
                entries.append(.init(name: name, dtype: format.codeDType, shape: try Shape(layout.codes)))
                entries.append(.init(name: name + ".scales", dtype: scaleDType, shape: try Shape(layout.scales)))
                parts[name] = .quantized(a, layout, .codes)
                parts[name + ".scales"] = .quantized(a, layout, .scales)
                if affine {
                    entries.append(.init(name: name + ".biases", dtype: scaleDType, shape: try Shape(layout.scales)))
                    parts[name + ".biases"] = .quantized(a, layout, .biases)
                }
                quantization[name] = .init(format: format, shape: layout.shape, scales: name + ".scales", biases: affine ? name + ".biases" : nil,
                                           optimizedScales: optimizeScales)
                largestQuantizedCount = max(largestQuantizedCount, a.spec.shape.elementCount)
            }
        }
        if let policy, let group = policy.groupSize, anyQuantized, !requestedGroupUsed {
            throw QuantizationPolicyError.badGroupSize(group, "divides the input dimension of no parameter to quantize")
        }
        if let policy, !anyQuantized {
            throw QuantizationPolicyError.badRule(policy.rules.map(\.pattern).joined(separator: ", "), "no parameter is left to quantize")
        }
        // Parameters named `X.scales` / `X.biases` would collide with a quantized parameter's parts.
        var seen: Set<String> = []
        if let collision = entries.map(\.name).first(where: { !seen.insert($0).inserted }) {
            throw QuantizationPolicyError.nameCollision(collision)
        }
    }
}

/// The quantized pieces of the parameter being written: quantized once, when its first piece is
/// due, and handed out piece by piece in whatever order the shards want them.
final class QuantizedParts {
    private let scratch: PageBuffer
    private let scaleWidth: Int
    private var pending: [String: [StorageLayout.Piece: [UInt8]]] = [:]

    init(largestCount: Int, scaleDType: DType) {
        scratch = PageBuffer(byteCount: max(4, largestCount * 4))
        scaleWidth = scaleDType.byteWidth!
    }

    /// Copies `piece` of `assignment`'s quantized form into `out`, quantizing it first if needed:
    /// `fill` writes the parameter's f32 values, `quantize` turns them into codes, scales and biases.
    func write(
        _ piece: StorageLayout.Piece, of assignment: MappingPlan.Assignment, layout: QuantizedLayout, into out: UnsafeMutableRawBufferPointer,
        fill: (UnsafeMutableRawBufferPointer) throws -> Void,
        quantize: (UnsafeBufferPointer<Float>, UnsafeMutableRawBufferPointer, UnsafeMutableRawBufferPointer, UnsafeMutableRawBufferPointer?) throws -> Void
    ) throws {
        let name = assignment.spec.name
        if pending[name] == nil {
            let count = assignment.spec.shape.elementCount
            let values = UnsafeMutableRawBufferPointer(rebasing: scratch.bytes[0..<(count * 4)])
            try fill(values)
            let affine = layout.format.mode == .affine
            let scaleBytes = layout.scales.reduce(1, *) * scaleWidth
            var scales = [UInt8](repeating: 0, count: scaleBytes), biases = [UInt8](repeating: 0, count: affine ? scaleBytes : 0)
            // The codes go straight into `out` when they are due first (their name sorts first); else they wait too.
            var codes = [UInt8](repeating: 0, count: piece == .codes ? 0 : layout.codes.reduce(1, *))
            try codes.withUnsafeMutableBytes { c in
                try scales.withUnsafeMutableBytes { s in
                    try biases.withUnsafeMutableBytes { b in
                        try quantize(UnsafeBufferPointer(start: values.baseAddress!.assumingMemoryBound(to: Float.self), count: count),
                                     piece == .codes ? out : c, s, affine ? b : nil)
                    }
                }
            }
            var pieces: [StorageLayout.Piece: [UInt8]] = [.scales: scales]
            if affine { pieces[.biases] = biases }
            if piece != .codes { pieces[.codes] = codes }
            pending[name] = pieces
            if piece == .codes { return }
        }
        guard let bytes = pending[name]?.removeValue(forKey: piece) else { preconditionFailure("piece \(piece) of \(name) requested twice") }
        if pending[name]!.isEmpty { pending[name] = nil }
        precondition(bytes.count == out.count)
        bytes.withUnsafeBytes { out.copyMemory(from: $0) }
    }
}
