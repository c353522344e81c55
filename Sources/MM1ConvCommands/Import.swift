import ArgumentParser
import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Tensor

/// `mm1conv import SRC`: a checkpoint becomes a validated MM1 package.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Map a checkpoint onto the MM1 graph and write it as an MM1 package.",
        discussion: """
            SRC is a .safetensors file, an index.json, or a folder. The configuration comes from --config, \
            --preset, or the config.json (Hugging Face LLaVA or Honeybee) or mm1.json beside SRC. Without --out \
            the package is written beside SRC as NAME.mm1. The import fails, writing nothing, unless every \
            parameter is set and every source tensor is accounted for; the report lists everything at once.
            """)

    @Argument(help: "The checkpoint: a file, an index.json or a folder.")
    var source: String

    @Option(help: "An MM1 config, package manifest or Hugging Face config.json.")
    var config: String?

    @Option(help: "A named configuration (\(Preset.Name.allCases.map(\.rawValue).joined(separator: ", "))).")
    var preset: String?

    @Option(help: "Use only these naming dialects (comma-separated: \(BuiltinDialects.all.map(\.name).joined(separator: ", "))).")
    var dialect: String?

    @Option(help: "A mapping file of extra rules, tried before the dialects (Schemas/mapping.schema.json).")
    var mapping: String?

    @Option(help: "Element type to write: keep, f32, f16 or bf16.")
    var dtype: String = "keep"

    @Option(help: "Package folder to write (default: NAME.mm1 beside SRC).")
    var out: String?

    @Option(name: .customLong("allow-unused"), help: "A regular expression of source tensors that may be left unused (repeatable).")
    var allowUnused: [String] = []

    @Flag(help: "Replace an existing package at --out.")
    var force = false

    @Flag(help: "Print the import report as JSON.")
    var json = false

    @Flag(name: .customLong("dry-run"), help: "Plan and report, write nothing.")
    var dryRun = false

    func run() throws {
        try reportingErrors {
            guard let outputDType = OutputDType(rawValue: dtype) else {
                throw ValidationFailure("--dtype must be keep, f32, f16 or bf16, not \"\(dtype)\"")
            }
            let checkpoint = try Checkpoint.open(source)
            let resolved = try ConfigResolution.resolve(configFile: config, preset: preset, source: source)
            var importer = Importer()
            importer.dtype = outputDType
            importer.overwrite = force
            importer.allowUnused = allowUnused
            importer.dialects = try dialects()
            importer.tokenizerFiles = TokenizerFiles.find(beside: source)
            let destination = out ?? Self.defaultDestination(for: source)
            let plan: MappingPlan
            if dryRun {
                plan = try importer.plan(checkpoint, config: resolved.config)
            } else {
                let bar = ProgressBar("importing", totalBytes: checkpoint.source.totalByteCount)
                let box = ProgressBox(bar)
                importer.progress = { box.advance($0) }
                do {
                    plan = try importer.run(checkpoint, config: resolved.config, notes: resolved.notes, to: destination).0
                    bar.finish()
                } catch let error as ImportError {
                    bar.finish()
                    try emit(error.report, destination: nil)
                    throw ExitCode(ExitStatus.code(for: error))
                }
            }
            try emit(plan.report, destination: dryRun ? nil : destination)
            if dryRun, !plan.report.isComplete { throw ExitCode(ExitStatus.dataError) }
        }
    }

    func dialects() throws -> [Dialect] {
        var result: [Dialect] = []
        if let mapping {
            do {
                result.append(try JSONDecoder().decode(Dialect.self, from: Data(try RegularFile.contents(mapping))))
            } catch let error as DecodingError {
                throw ConfigError(decoding: error, file: mapping)
            }
        }
        if let dialect {
            result += try BuiltinDialects.list(dialect).mapError { ValidationFailure($0.description) }.get()
        } else {
            result += BuiltinDialects.all
        }
        return result
    }

    func emit(_ report: ImportReport, destination: String?) throws {
        var out = FileHandleStream.standardOutput
        if json {
            struct Output: Encodable {
                let package: String?
                let complete: Bool
                let report: ImportReport
            }
            print(try StableJSON.text(Output(package: destination, complete: report.isComplete, report: report)), to: &out)
        } else {
            print(report.table(), terminator: "", to: &out)
            if let destination { print("wrote \(destination)", to: &out) }
        }
    }

    /// `ckpt.safetensors` → `ckpt.mm1`; `folder` or `folder/model.safetensors.index.json` → `folder.mm1`, beside it.
    static func defaultDestination(for source: String) -> String {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory)
        let trimmed = source.hasSuffix("/") ? String(source.dropLast()) : source
        if isDirectory.boolValue { return trimmed + ".mm1" }
        if trimmed.hasSuffix(".index.json") {
            let folder = (trimmed as NSString).deletingLastPathComponent
            return (folder.isEmpty ? "." : folder) + ".mm1"
        }
        return ((trimmed as NSString).deletingPathExtension) + ".mm1"
    }
}

/// Lets the importer's `@Sendable` progress callback reach the (single-threaded) progress bar.
final class ProgressBox: @unchecked Sendable {
    let bar: ProgressBar
    init(_ bar: ProgressBar) { self.bar = bar }
    func advance(_ bytes: Int) { bar.advance(by: bytes) }
}
