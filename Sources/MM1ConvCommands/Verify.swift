import ArgumentParser
import Foundation
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Quantization
import MM1Reference

/// `mm1conv verify PKG --reference REF | --against OTHER`: numerical parity, stage by stage.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a package's reference forward pass and compare it, stage by stage.",
        discussion: """
            With --reference, runs PKG on the inputs of a reference-activations file \
            (Schemas/README.md, "Reference-activations files") and compares every stage the file holds; exit status 0 only when \
            every stage's scaled error max|computed - expected| / max|expected| is within --tolerance. \
            With --against, runs PKG and OTHER (same architecture) on the same seeded inputs (or on --reference's \
            inputs) and reports the drift of OTHER from PKG per stage: cosine, max abs error, NMSE, and for the \
            logits KL divergence per token and top-1 agreement; pass/fail only when --tolerance is given.
            """)

    @Argument(help: "The MM1 package to run (or, with --integrity, to check).")
    var package: String

    @Option(help: "A reference-activations safetensors file (inputs and expected stages).")
    var reference: String?

    @Option(help: "Another MM1 package with the same architecture (e.g. the converted or quantized copy).")
    var against: String?

    @Option(help: "Largest allowed scaled error per stage (default 1e-4 with --reference; none with --against).")
    var tolerance: Double?

    @Option(help: "With --against: seed of the synthetic image and token ids.")
    var seed: UInt64 = 0

    @Flag(help: "With --against: feed every block of OTHER the input PKG's block received, and drop each block's pages after use.")
    var layerwise = false

    @Flag(help: "Recompute the SHA-256 of every shard and tensor and name every one that changed since the package was written.")
    var integrity = false

    @Flag(help: "Print machine-readable JSON instead of a table.")
    var json = false

    func validate() throws {
        if integrity && (reference != nil || against != nil) { throw ValidationError("--integrity checks PKG's bytes alone: run it without --reference/--against") }
        if !integrity && reference == nil && against == nil { throw ValidationError("give --reference REF, --against OTHER or --integrity") }
        if layerwise && against == nil { throw ValidationError("--layerwise compares two models: it needs --against OTHER") }
        if let tolerance, !(tolerance >= 0) { throw ValidationError("--tolerance must be a number ≥ 0") }
    }

    func run() throws {
        if integrity { return try checkIntegrity() }
        try reportingErrors {
            let first = try MM1Package.open(package)
            let weights = ViewWeights<StoredTensor>(releasingPages: layerwise)
            let report: VerificationReport
            var source: String
            if let against {
                let second = try MM1Package.open(against)
                let inputs = try reference.map { try ReferenceActivations.read($0).inputs }
                    ?? SyntheticInputs.make(first.manifest.config, seed: seed)
                source = "against \(against) on " + (reference.map { "the inputs of \($0)" } ?? "seeded inputs (seed \(seed))")
                report = try Verifier.against(MM1Forward(model: first.model, weights: weights),
                                              MM1Forward(model: second.model, weights: weights),
                                              inputs: inputs, layerwise: layerwise, tolerance: tolerance)
            } else {
                let file = try ReferenceActivations.read(reference!)
                source = "against \(reference!)"
                report = try Verifier.verify(MM1Forward(model: first.model, weights: weights), reference: file,
                                             tolerance: tolerance ?? Verifier.defaultTolerance)
            }
            var out = FileHandleStream.standardOutput
            if json {
                print(try StableJSON.text(report), to: &out)
            } else {
                source = "verify \(package) \(source)" + (layerwise ? ", layerwise" : "")
                print(Self.table(report, title: source), terminator: "", to: &out)
            }
            if !report.passed { throw ExitCode(ExitStatus.verificationFailed) }
        }
    }

    func checkIntegrity() throws {
        try reportingErrors {
            let report = try PackageIntegrity.check(package)
            var out = FileHandleStream.standardOutput
            if json {
                print(try StableJSON.text(report), to: &out)
            } else {
                for t in report.corruptedTensors { print("CORRUPTED tensor \(t)", to: &out) }
                for s in report.damagedHeaders { print("CORRUPTED shard \(s): header or padding bytes changed (its tensors are intact)", to: &out) }
                for s in report.corruptedShards where !report.damagedHeaders.contains(s) { print("CORRUPTED shard \(s)", to: &out) }
                print(report.intact
                      ? "INTACT: \(report.shardsChecked) shards, \(report.tensorsChecked) tensors, \(report.bytesChecked) bytes match the manifest's SHA-256"
                      : "FAIL: \(report.corruptedTensors.count) tensors and \(report.corruptedShards.count) shards differ from the manifest", to: &out)
            }
            if !report.intact { throw ExitCode(ExitStatus.verificationFailed) }
        }
    }

    static func table(_ report: VerificationReport, title: String) -> String {
        func e(_ x: Double) -> String { x.isFinite ? String(format: "%.2e", x) : "\(x)" }
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
        let width = max(24, (report.stages.map(\.stage.count).max() ?? 0) + 2)
        var text = title + (report.tolerance.map { " (tolerance \(e($0)) on max|Δ|/max|expected|)" } ?? "") + "\n"
        text += pad("stage", width) + pad("shape", 18) + pad("max abs", 11) + pad("max rel", 11) + pad("scaled", 11) + pad("cosine", 12) + pad("NMSE", 11) + "result\n"
        for s in report.stages {
            let shape = "[" + s.shape.map(String.init).joined(separator: ",") + "]"
            var line = pad(s.stage, width) + pad(shape, 18)
            if let m = s.metrics {
                line += pad(e(m.maxAbsError), 11) + pad(e(m.maxRelError), 11) + pad(e(m.scaledError), 11)
                line += pad(String(format: "%.8f", m.cosine), 12) + pad(e(m.nmse), 11)
            } else {
                line += String(repeating: " ", count: 67)
            }
            line += s.passed.map { $0 ? "ok" : "FAIL" } ?? "-"
            if let note = s.note { line += "  (\(note))" }
            text += line + "\n"
            if let l = s.logits {
                text += pad("", width) + "KL per token: mean \(e(l.klMean)), max \(e(l.klMax)); top-1 agreement \(String(format: "%.1f", l.top1Agreement * 100))% of \(l.tokens) tokens\n"
            }
        }
        let judged = report.stages.filter { $0.passed != nil }
        if let failure = report.firstFailure {
            let failed = judged.filter { $0.passed == false }.count
            text += "FAIL: \(failed) of \(judged.count) stages outside the tolerance; first diverging stage: \(failure)\n"
        } else if report.tolerance != nil {
            text += "PASS: all \(judged.count) stages within the tolerance\n"
        }
        return text
    }
}
