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
            q and k rows are permuted as llama.cpp expects. The image encoder and connector go to a second GGUF \
            (llama.cpp has no C-Abstractor) under mm1conv's canonical names; both files carry the MM1 config \
            (key mm1conv.config), so a folder holding the two imports back. Files are written to temporary names and renamed.
            """)

    @Argument(help: "The MM1 package.")
    var package: String

    @Option(help: "Output format (gguf).")
    var format: String = "gguf"

    @Option(help: "Storage type of the large matrices: f32, f16, q8_0 or q4_0.")
    var type: String = "f16"

    @Option(help: "Output file of the language model (default: PKG's name with -TYPE.gguf beside it).")
    var out: String?

    @Option(help: "Output file of the image encoder and connector (default: the language file's name with -vision).")
    var visionOut: String?

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
            let vision = visionOut ?? ((destination as NSString).deletingPathExtension + "-vision.gguf")
            let kind = GGUFExport.TensorType(rawValue: type)!
            let notes = try GGUFExport.export(source, type: kind, to: destination, overwrite: force)
            try GGUFExport.exportVision(source, type: kind, to: vision, overwrite: force)
            var stdout = FileHandleStream.standardOutput
            for note in notes { print("note      \(note)", to: &stdout) }
            print("wrote \(destination)", to: &stdout)
            print("wrote \(vision) (image encoder and connector, mm1conv names)", to: &stdout)
        }
    }
}
