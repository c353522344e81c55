import ArgumentParser
import Foundation
import MM1Formats
import MM1Package

/// `mm1conv export PKG --format gguf --out FILE`: a package's language model for llama.cpp.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a package's language model as GGUF (llama.cpp's llama architecture).",
        discussion: """
            --type f32|f16|q8_0|q4_0 sets how the large matrices are stored (Q8_0/Q4_0 byte-exact with llama.cpp's \
            reference quantizers); norms, the MoE router, the token embedding and the output head stay in F32/F16. \
            q and k rows are permuted as llama.cpp expects. The file is written to a temporary name and renamed.
            """)

    @Argument(help: "The MM1 package.")
    var package: String

    @Option(help: "Output format (gguf).")
    var format: String = "gguf"

    @Option(help: "Storage type of the large matrices: f32, f16, q8_0 or q4_0.")
    var type: String = "f16"

    @Option(help: "Output file (default: PKG's name with .gguf beside it).")
    var out: String?

    @Flag(help: "Replace an existing output file.")
    var force = false

    func validate() throws {
        guard format == "gguf" else { throw ValidationError("--format \(format) is not supported yet (gguf is)") }
        guard GGUFExport.TensorType(rawValue: type) != nil else {
            throw ValidationError("--type \(type) is not one of \(GGUFExport.TensorType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        try reportingErrors {
            let source = try MM1Package.open(package)
            let base = (package.hasSuffix("/") ? String(package.dropLast()) : package) as NSString
            let destination = out ?? (base.deletingPathExtension + "-\(type).gguf")
            let notes = try GGUFExport.export(source, type: GGUFExport.TensorType(rawValue: type)!, to: destination, overwrite: force)
            var stdout = FileHandleStream.standardOutput
            for note in notes { print("note      \(note)", to: &stdout) }
            print("wrote \(destination)", to: &stdout)
        }
    }
}
