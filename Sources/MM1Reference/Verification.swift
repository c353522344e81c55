import Foundation
import MM1Graph

/// One stage of a verification: its metrics and, when judged against a tolerance, the verdict.
public struct StageReport: Sendable, Codable, Equatable {
    /// Stage name (`vision.layer.0`, `image_embeds`, `logits`, …).
    public var stage: String
    /// The stage's shape, batch first.
    public var shape: [Int]
    /// Errors of the computed (or second) model against the expected (or first) one; nil when the
    /// stage could not be compared.
    public var metrics: StageMetrics?
    /// For `logits`: KL divergence and top-1 agreement per token.
    public var logits: LogitMetrics?
    /// `scaled_error ≤ tolerance`; nil when no tolerance applies.
    public var passed: Bool?
    /// Why a stage was not compared, when it was not.
    public var note: String?
}

/// The outcome of `mm1conv verify`: every stage, in pipeline order, and the first failing one.
public struct VerificationReport: Sendable, Codable, Equatable {
    /// `reference` (against a reference-activations file) or `against` (two models).
    public var mode: String
    /// The tolerance on each stage's scaled error, when judged.
    public var tolerance: Double?
    /// Whether every block was fed the first model's input (`--layerwise`).
    public var layerwise: Bool
    /// Every stage.
    public var stages: [StageReport]
    /// The first stage, in pipeline order, that failed.
    public var firstFailure: String?

    /// True when no judged stage failed (stored, so the JSON report carries it).
    public let passed: Bool

    enum CodingKeys: String, CodingKey {
        case mode, tolerance, layerwise, stages, passed
        case firstFailure = "first_failure"
    }

    init(mode: String, tolerance: Double?, layerwise: Bool, stages: [StageReport]) {
        self.mode = mode
        self.tolerance = tolerance
        self.layerwise = layerwise
        self.stages = stages
        self.firstFailure = stages.first { $0.passed == false }?.stage
        self.passed = firstFailure == nil
    }
}

/// Numerical parity checks: a model against a reference-activations file, or two models against each
/// other on the same inputs.
public enum Verifier {
    /// The default tolerance on a stage's scaled error (`max |a − e| / max |e|`): what f32 arithmetic
    /// in a different order leaves.
    public static let defaultTolerance = 1e-4

    /// Runs `forward` on the reference file's inputs and compares every stage the file holds.
    public static func verify<W>(_ forward: MM1Forward<W>, reference: ReferenceActivations, tolerance: Double = defaultTolerance) throws(ReferenceError) -> VerificationReport {
        let wanted = Set(reference.expected.order)
        let computed = try forward.run(reference.inputs) { wanted.contains($0) }
        var reports: [StageReport] = []
        for stage in computed.order {
            guard let expected = reference.expected[stage] else { continue }
            reports.append(compare(stage, expected: expected, actual: computed[stage]!, tolerance: tolerance))
        }
        for (stage, tensor) in reference.expected where computed[stage] == nil {
            reports.append(StageReport(stage: stage, shape: tensor.shape, metrics: nil, logits: nil, passed: nil,
                                       note: "not a stage this model computes (skipped)"))
        }
        return VerificationReport(mode: "reference", tolerance: tolerance, layerwise: false, stages: reports)
    }

    /// Runs `first` and `second` (same architecture) on `inputs` and reports the drift of the second
    /// from the first at every stage. With `layerwise`, every block of the second model is fed the
    /// first model's input to that block, so each figure measures one block's own error.
    public static func against<A, B>(_ first: MM1Forward<A>, _ second: MM1Forward<B>, inputs: ForwardInputs,
                                     layerwise: Bool = false, tolerance: Double? = nil) throws(ReferenceError) -> VerificationReport {
        if let difference = architectureDifference(first.model.config, second.model.config) { throw .incompatibleModels(difference) }
        let stages = try Lockstep.run([first, second], inputs, feed: layerwise ? .first : .own) { _ in true }
        let reports = stages[0].order.map { compare($0, expected: stages[0][$0]!, actual: stages[1][$0]!, tolerance: tolerance) }
        return VerificationReport(mode: "against", tolerance: tolerance, layerwise: layerwise, stages: reports)
    }

    static func compare(_ stage: String, expected: StageTensor, actual: StageTensor, tolerance: Double?) -> StageReport {
        guard expected.shape == actual.shape else {
            return StageReport(stage: stage, shape: expected.shape, metrics: nil, logits: nil, passed: false,
                               note: "shape differs: expected \(expected.shape), computed \(actual.shape)")
        }
        let metrics = StageMetrics(expected: expected.values, actual: actual.values)
        let logits = stage == "logits" ? LogitMetrics(expected: expected.values, actual: actual.values, vocab: expected.shape.last ?? 1) : nil
        return StageReport(stage: stage, shape: expected.shape, metrics: metrics, logits: logits,
                           passed: tolerance.map { metrics.scaledError <= $0 }, note: nil)
    }

    /// The first part of two configs that differs, or nil when they describe the same architecture.
    static func architectureDifference(_ a: MM1Config, _ b: MM1Config) -> String? {
        if a.vision != b.vision { return "vision encoder configs differ" }
        if a.connector != b.connector { return "connector configs differ" }
        if a.language != b.language { return "language model configs differ" }
        return nil
    }
}

/// Deterministic inputs for `verify --against`: a seeded image (uniform pixels normalised with the
/// OpenAI CLIP mean and standard deviation) and token ids around one block of image placeholders.
public enum SyntheticInputs {
    /// `batch` sequences of `prefix` text ids, the image tokens, then `suffix` text ids.
    public static func make(_ config: MM1Config, seed: UInt64, batch: Int = 1, prefix: Int = 8, suffix: Int = 8, text: Bool = false) -> ForwardInputs {
        var rng = SplitMix64(seed: seed)
        let size = config.vision.imageSize, mean: [Float] = [0.48145466, 0.4578275, 0.40821073], std: [Float] = [0.26862954, 0.26130258, 0.27577711]
        var pixels: [Float] = []
        if !text {
            pixels.reserveCapacity(batch * 3 * size * size)
            for _ in 0..<batch { for c in 0..<3 { for _ in 0..<(size * size) { pixels.append((rng.nextFloat() - mean[c]) / std[c]) } } }
        }
        let vocab = config.language.vocabSize, image = config.language.imageTokenID
        func token() -> Int {
            while true { let t = Int(rng.next() % UInt64(vocab)); if t != image { return t } }
        }
        let k = text ? 0 : config.imageTokens
        let ids = (0..<batch).map { _ in (0..<prefix).map { _ in token() } + Array(repeating: image, count: k) + (0..<suffix).map { _ in token() } }
        return ForwardInputs(pixelValues: text ? nil : pixels, imageSize: size, inputIDs: ids)
    }
}

/// SplitMix64: a small, fast, reproducible generator (the same numbers on every platform).
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1) with 24 random bits.
    mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }
}
