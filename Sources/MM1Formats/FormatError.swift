/// An input file mm1conv will not read: which file, which tensor (when one is to blame), and why.
public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was violated. Each case matches files in the malformed corpus.
    public enum Reason: Sendable, Equatable {
        case safetensors(SafetensorsViolation)
        case index(IndexViolation)
        case gguf(GGUFViolation)
        case zstd(ZstdViolation)
        case hdf5(HDF5Violation)
        /// A PyTorch checkpoint (pickle, zip or legacy container).
        case pickle(PickleViolation)
        /// The zip container of a `torch.save` file; ``FormatError/tensor`` holds the entry at fault.
        case torchZip(TorchZipViolation)
    }

    public let reason: Reason
    /// The file as the user named it.
    public let file: String
    /// The tensor at fault, when there is one (the dataset for `.hdf5`, the archive entry for `.torchZip`).
    public let tensor: String?
    /// The metadata key at fault (GGUF), when there is one.
    public let key: String?
    /// The byte of the file at fault, when one is known (a pickle opcode).
    public var byteOffset: Int?

    public init(_ reason: Reason, file: String, tensor: String? = nil, key: String? = nil) {
        self.reason = reason
        self.file = file
        self.tensor = tensor
        self.key = key
    }

    public var description: String { "\(file): \(detail)" }

    /// The message without the file: the tensor or key at fault, if any, and the rule broken.
    public var detail: String {
        let rule: String = switch reason {
        case .safetensors(let v): v.description
        case .index(let v): v.description
        case .gguf(let v): v.description
        case .zstd(let v): v.description
        case .hdf5(let v): v.description
        case .pickle(let v): v.description + (byteOffset.map { " (at byte \($0))" } ?? "")
        case .torchZip(let v): v.description
        }
        if case .hdf5 = reason, let tensor { return "dataset '\(Self.abbreviated(tensor))': \(rule)" }
        if case .torchZip = reason, let tensor { return "entry '\(Self.abbreviated(tensor))': \(rule)" }
        if let tensor { return "tensor '\(Self.abbreviated(tensor))': \(rule)" }
        if let key { return "key '\(Self.abbreviated(key))': \(rule)" }
        return rule
    }

    /// Names from hostile files can be a megabyte long; messages show the ends.
    static func abbreviated(_ name: String) -> String {
        name.count <= 200 ? name : "\(name.prefix(120))…(\(name.utf8.count) bytes)…\(name.suffix(40))"
    }
}
