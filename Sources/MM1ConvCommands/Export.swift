import ArgumentParser
import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Tensor

/// `mm1conv export PKG --format gguf|mlx`: a package for llama.cpp or MLX.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a package as GGUF (llama.cpp), in MLX's layout (mlx-lm), or as safetensors in a framework's names.",
        discussion: """
            GGUF: --type f32|f16|q8_0|q4_0 sets how the large matrices are stored (Q8_0/Q4_0 byte-exact with llama.cpp's \
            reference quantizers; a quantized package's int8/int4 symmetric groups of 32 are carried over as Q8_0/Q4_0 \
            blocks without requantizing, and its type is the default); norms, the MoE router, the token embedding and the \
            output head stay in F32/F16. q and k rows are permuted as llama.cpp expects. The image encoder and connector go \
            to a second GGUF (llama.cpp has no C-Abstractor) under mm1conv's canonical names; both files carry the MM1 config \
            (key mm1conv.config), so a folder holding the two imports back; a byte-level BPE tokenizer carried by the package \
            becomes the tokenizer.ggml.* section. \
            safetensors: --out DIR gets the package as a plain checkpoint in a framework's names (the inverse of import; \
            --dialect chooses the dialects, default every framework's own), quantized weights dequantized, and config.json \
            with the MM1 config. \
            MLX: --out DIR gets config.json (with MLX's quantization block), model.safetensors (mlx-lm names; quantized \
            weights as uint32-packed codes, scales and biases) and mm1-vision.safetensors. \
            Outputs are written to temporary names and renamed.
            """)

    @Argument(help: "The MM1 package.")
    var package: String

    @Option(help: "Output format.")
    var format: ExportFormat = .gguf

    @Option(help: "GGUF storage type of the large matrices (default: f16, or the block type an int8/int4 package carries).")
    var type: GGUFExport.TensorType?

    @Option(help: "Output file of the language model, or the MLX folder (default: PKG's name with -TYPE.gguf or -mlx beside it).")
    var out: String?

    @Option(help: "Output file of the image encoder and connector (default: the language file's name with -vision).")
    var visionOut: String?

    @Option(help: "safetensors: naming dialects to use, in order (comma-separated).")
    var dialect: String?

    @Option(help: "safetensors: element type of every tensor (default: as stored, dequantized weights f32).")
    var dtype: FloatStorage?

    @Flag(help: "Replace an existing output file.")
    var force = false

    func validate() throws {
        if format != .safetensors, dialect != nil || dtype != nil { throw ValidationError("--dialect and --dtype apply to --format safetensors") }
        if type != nil, format != .gguf { throw ValidationError("--type applies to --format gguf") }
        if format == .mlx, visionOut != nil { throw ValidationError("--vision-out applies to --format gguf (MLX exports hold both in one folder)") }
    }

    func run() throws {
        try reportingErrors {
            let source = try MM1Package.open(package)
            let base = (package.hasSuffix("/") ? String(package.dropLast()) : package) as NSString
            var stdout = FileHandleStream.standardOutput
            switch format {
            case .safetensors:
                let destination = out ?? (base.deletingPathExtension + "-safetensors")
                let dialects = try dialect.map { try BuiltinDialects.list($0).mapError { ValidationFailure($0.description) }.get() }
                    ?? SafetensorsExport.defaultDialects
                let counts = try SafetensorsExport.export(source, dialects: dialects, dtype: dtype?.dtype, to: destination, overwrite: force)
                print("wrote \(destination) (" + counts.sorted { $0.key < $1.key }.map { "\($0.value) parameters in \($0.key) names" }.joined(separator: ", ") + "; config.json)", to: &stdout)
            case .mlx:
                let destination = out ?? (base.deletingPathExtension + "-mlx")
                let notes = try MLXExport.export(source, to: destination, overwrite: force)
                for note in notes { print("note      \(note)", to: &stdout) }
                print("wrote \(destination) (config.json, model.safetensors, mm1-vision.safetensors)", to: &stdout)
            case .gguf:
                try exportGGUF(source, base: base, to: &stdout)
            }
        }
    }

    private func exportGGUF(_ source: MM1Package, base: NSString, to stdout: inout FileHandleStream) throws {
        let kind = type ?? GGUFExport.defaultType(for: source)
        let destination = out ?? (base.deletingPathExtension + "-\(kind.rawValue).gguf")
        let vision = visionOut ?? ((destination as NSString).deletingPathExtension + "-vision.gguf")
        let notes = try GGUFExport.export(source, type: kind, to: destination, overwrite: force)
        try GGUFExport.exportVision(source, type: kind, to: vision, overwrite: force)
        for note in notes { print("note      \(note)", to: &stdout) }
        print("wrote \(destination)", to: &stdout)
        print("wrote \(vision) (image encoder and connector, mm1conv names)", to: &stdout)
    }
}

/// `export --format`.
enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
    case gguf, mlx, safetensors
}

/// A float element type chosen on the command line (`export --dtype`).
enum FloatStorage: String, ExpressibleByArgument, CaseIterable {
    case f32, f16, bf16

    var dtype: DType {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        }
    }
}

extension GGUFExport.TensorType: ExpressibleByArgument {}
