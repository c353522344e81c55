import ArgumentParser
import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Quantization
import MM1Reference
import MM1Tensor

/// `mm1conv quantize SRC --int8|--int4`: an int8 or int4 package, its size, and its drift.
struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Quantize an MM1 package (or any checkpoint import accepts) to int8 or int4 and measure its drift.",
        discussion: """
            Quantizes the large linear weights of the image encoder, connector, decoder and experts; norms, biases, \
            embeddings, convolutions, the router and (by default) the token embedding and output head stay in float. \
            int8 is symmetric per output channel unless --group-size is given; int4 uses groups of 32 (64 or 128 with \
            --group-size), symmetric (ggml's Q4_0 rounding), --affine (MLX's layout) or --nonlinear (llama.cpp's IQ4_NL \
            levels, denser near zero: at groups of 32 the same 4.5 bits per weight as Q4_0 with less error; exports to \
            GGUF IQ4_NL). Layers whose input dimension the \
            group size does not divide fall back to int8 per output channel, as the report says. Without --out the \
            package is written beside SRC as NAME-int4.mm1 (or -int8). Then, unless --no-verify, both models run on \
            seeded inputs and the drift is printed (image-embedding cosine, logits KL, top-1 agreement).
            """)

    @Argument(help: "An MM1 package or a checkpoint (default: the current folder, when it is a package).")
    var source: String?

    @Flag(help: "Code width: int8 (symmetric, per output channel by default) or int4 (groups of 32 by default).")
    var width: QuantizedBits

    @Option(name: .customLong("group-size"), help: "Elements per group along the input dimension: 32, 64 or 128.")
    var groupSize: Int?

    @Flag(help: "How codes map back to values (default: symmetric).")
    var mode: QuantizationMode?

    @Flag(name: .customLong("optimize-scales"), help: "Search each group's clipping range for the least squared error.")
    var optimizeScales = false

    @Option(name: .customLong("scale-dtype"), help: "Storage of scales and biases: f16 or f32.")
    var scaleDType: ScaleStorage = .f16

    @Option(help: "A regular expression of parameters to keep in float (repeatable).")
    var keep: [String] = []

    @Option(name: .customLong("type"), help: "REGEX=int8|int4|f16|bf16|f32: store matching parameters so; first match wins (repeatable).")
    var types: [String] = []

    @Option(help: "Package folder to write (default: NAME-int4.mm1 or NAME-int8.mm1 beside SRC).")
    var out: String?

    @Option(help: "For a checkpoint SRC: an MM1 config, package manifest or Hugging Face config.json.")
    var config: String?

    @Option(help: "For a checkpoint SRC: a named configuration.")
    var preset: String?

    @Flag(help: "Replace an existing package at --out.")
    var force = false

    @Flag(name: .customLong("no-verify"), help: "Do not run both models to measure the drift.")
    var noVerify = false

    @Option(help: "Seed of the verification's synthetic image and token ids.")
    var seed: UInt64 = 0

    @Flag(help: "Print the summary (and drift) as JSON.")
    var json = false

    func validate() throws {
        guard !(mode == .nonlinear && width == .int8) else { throw ValidationError("--nonlinear is int4 only") }
        if let groupSize, ![32, 64, 128].contains(groupSize) {
            throw ValidationError("--group-size must be 32, 64 or 128, not \(groupSize)")
        }
    }

    func run() throws {
        try reportingErrors {
            let bits = width
            var policy = QuantizationPolicy(bits: bits, mode: mode ?? .symmetric, groupSize: groupSize ?? (bits == .int4 ? 32 : nil))
            policy.scaleDType = scaleDType.dtype
            policy.optimizeScales = optimizeScales
            policy.rules = try types.map { try QuantizationPolicy.Rule($0) }
            for k in keep { try policy.keep(k) }

            let src = try resolvedSource()
            let isPackage = FileManager.default.fileExists(atPath: "\(src)/\(PackageManifest.fileName)")
            let sourcePackage = isPackage ? try MM1Package.open(src) : nil
            if let sourcePackage, sourcePackage.isQuantized { throw QuantizationPolicyError.alreadyQuantized(src) }
            let checkpoint = try Checkpoint.open(src)
            let resolved = try ConfigResolution.resolve(configFile: config, preset: preset, source: src)
            var importer = Importer()
            importer.overwrite = force
            importer.quantization = policy
            importer.tokenizerFiles = TokenizerFiles.find(beside: src)
            let destination = out ?? Self.defaultDestination(for: src, bits: bits)
            let bar = ProgressBar("quantizing", totalBytes: checkpoint.source.totalByteCount)
            let box = ProgressBox(bar)
            importer.progress = { box.advance($0) }
            let plan: MappingPlan, manifest: PackageManifest
            do {
                (plan, manifest) = try importer.run(checkpoint, config: resolved.config,
                                                   notes: resolved.notes + ["quantized by mm1conv quantize \(CommandLine.arguments.dropFirst(2).joined(separator: " "))"],
                                                   to: destination)
                bar.finish()
            } catch let error as ImportError {
                bar.finish()
                var err = FileHandleStream.standardError
                print(error.report.table(), terminator: "", to: &err)
                throw ExitCode(ExitStatus.code(for: error))
            }
            let before = Set(plan.assignments.flatMap(\.sources)).reduce(0) { $0 + $1.byteCount }
            let summary = try QuantizationSummary(manifest: manifest, bytesBefore: before)
            let fallbacks = manifest.provenance.decisions.filter { $0.hasPrefix(QuantizationPolicy.fallbackPrefix) }

            var drift: VerificationReport?
            if !noVerify {
                let quantized = try MM1Package.open(destination)
                let inputs = SyntheticInputs.make(resolved.config, seed: seed)
                let second = MM1Forward(model: quantized.model, weights: ViewWeights<StoredTensor>())
                if let sourcePackage {
                    drift = try Verifier.against(MM1Forward(model: sourcePackage.model, weights: ViewWeights<StoredTensor>()), second, inputs: inputs)
                } else {
                    let model = try PlannedWeights.model(plan, config: resolved.config)
                    drift = try Verifier.against(MM1Forward(model: model, weights: PlannedWeights(source: checkpoint.source)), second, inputs: inputs)
                }
            }

            var stdout = FileHandleStream.standardOutput
            if json {
                struct Output: Encodable {
                    let package: String
                    let summary: QuantizationSummary
                    let fallbacks: [String]
                    let drift: VerificationReport?
                }
                print(try StableJSON.text(Output(package: destination, summary: summary, fallbacks: fallbacks, drift: drift)), to: &stdout)
            } else {
                print("wrote \(destination)", to: &stdout)
                print(summary.table(), terminator: "", to: &stdout)
                for f in fallbacks { print(f, to: &stdout) }
                if let drift {
                    print(Verify.table(drift, title: "drift of \(destination) from \(src) on seeded inputs (seed \(seed))"), terminator: "", to: &stdout)
                    print(Self.driftLine(drift), to: &stdout)
                }
            }
        }
    }

    /// One line: image-embedding cosine, logits KL and top-1 agreement.
    static func driftLine(_ report: VerificationReport) -> String {
        var parts: [String] = []
        if let image = report.stages.first(where: { $0.stage == "image_embeds" })?.metrics {
            parts.append(String(format: "image-embedding cosine %.6f", image.cosine))
        }
        if let logits = report.stages.first(where: { $0.logits != nil })?.logits {
            parts.append(String(format: "logits KL mean %.3e (max %.3e)", logits.klMean, logits.klMax))
            parts.append(String(format: "top-1 agreement %.1f%%", logits.top1Agreement * 100))
        }
        return "drift: " + parts.joined(separator: ", ")
    }

    /// SRC, or the current folder when it is a package.
    func resolvedSource() throws -> String {
        if let source { return source }
        let here = FileManager.default.currentDirectoryPath
        guard FileManager.default.fileExists(atPath: "\(here)/\(PackageManifest.fileName)") else {
            throw ValidationFailure("no SRC given and the current folder is not an MM1 package (no \(PackageManifest.fileName))")
        }
        return here
    }

    /// `model.mm1` → `model-int4.mm1`; `ckpt.safetensors` → `ckpt-int4.mm1`; beside SRC.
    static func defaultDestination(for source: String, bits: QuantizedBits) -> String {
        var trimmed = source
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        if trimmed.hasSuffix(".index.json") { trimmed = (trimmed as NSString).deletingLastPathComponent }
        let url = URL(fileURLWithPath: trimmed).standardizedFileURL
        let base = url.deletingPathExtension().lastPathComponent
        return url.deletingLastPathComponent().appendingPathComponent("\(base)-\(bits.rawValue).mm1").path
    }
}

extension QuantizedBits: EnumerableFlag {
    public static func help(for value: QuantizedBits) -> ArgumentHelp? {
        switch value {
        case .int8: "Quantize to int8 (symmetric, per output channel by default)."
        case .int4: "Quantize to int4 (group size 32 by default)."
        }
    }
}

extension QuantizationMode: EnumerableFlag {
    public static func help(for value: QuantizationMode) -> ArgumentHelp? {
        switch value {
        case .symmetric: "Symmetric codes: x ≈ scale·q (the default; ggml's Q8_0/Q4_0 rounding)."
        case .affine: "Affine codes: x ≈ scale·n + bias (MLX's layout)."
        case .nonlinear: "int4 only: x ≈ scale·level[n] on llama.cpp's IQ4_NL levels (GGUF IQ4_NL at groups of 32)."
        }
    }
}

/// Storage of quantization scales and biases (`quantize --scale-dtype`).
enum ScaleStorage: String, ExpressibleByArgument, CaseIterable {
    case f16, f32

    var dtype: DType { self == .f32 ? .f32 : .f16 }
}
