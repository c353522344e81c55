/// Why the reference forward pass or a verification could not run.
public enum ReferenceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A parameter's values could not be read (unsupported dtype, unexpected shape).
    case parameter(String, String)
    /// The inputs do not fit the model (pixel shape, image-token count, token id range).
    case input(String)
    /// A reference-activations file is malformed: file, tensor (or nil) and reason.
    case referenceFile(path: String, tensor: String?, reason: String)
    /// The BLAS library could not be loaded.
    case library(String)
    /// Two models compared with `--against` do not share an architecture: the first differing field.
    case incompatibleModels(String)

    public var description: String {
        switch self {
        case .parameter(let name, let reason): "parameter \(name): \(reason)"
        case .input(let reason): "input: \(reason)"
        case .referenceFile(let path, let tensor, let reason):
            "\(path)" + (tensor.map { ": tensor \($0)" } ?? "") + ": \(reason)"
        case .incompatibleModels(let reason): "the two models differ: \(reason)"
        case .library(let reason): reason
        }
    }
}
