import MM1Quantization

/// Why a folder is not a usable MM1 package.
public struct PackageError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// No `mm1.json`: not a package, or an import that did not finish.
        case noManifest
        /// `mm1.json` breaks a rule of `Schemas/package.schema.json` (the detail says which).
        case invalidManifest(String)
        /// A format or version this mm1conv does not read.
        case unsupportedVersion(format: String, version: Int)
        /// A shard the manifest names is missing.
        case shardMissing(String)
        /// A file the manifest lists beside the shards (a tokenizer file) is missing (`actual` nil) or not the
        /// size the manifest records.
        case fileSizeMismatch(file: String, expected: Int, actual: Int?)
        /// A tensor's dtype, shape, offset, shard or quantization parts disagree with the manifest.
        case tensorMismatch(tensor: String, detail: String)
        /// The tensors are not exactly the parameters of the manifest's config.
        case graphMismatch(String)
    }
    /// The package's path.
    public let path: String
    /// What is wrong.
    public let reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case .noManifest: "\(path): no mm1.json; not an MM1 package, or an import that did not finish (import it again)"
        case .invalidManifest(let d): "\(path)/mm1.json: \(d)"
        case .unsupportedVersion(let f, let v): "\(path)/mm1.json: format \(f) version \(v) is not supported by this mm1conv"
        case .shardMissing(let s): "\(path): shard \(s) named by mm1.json is missing"
        case .fileSizeMismatch(let f, let expected, let actual):
            "\(path): file \(f) named by mm1.json " + (actual.map { "has \($0) bytes, the manifest says \(expected)" } ?? "is missing")
        case .tensorMismatch(let t, let d): "\(path): tensor '\(t)': \(d)"
        case .graphMismatch(let d): "\(path): the manifest disagrees with its own config: \(d)"
        }
    }
}

/// A tensor was asked of an open package by a name it does not serve that way.
///
/// A package's parameters are read through ``MM1Package/parameter(named:)`` (plain or quantized),
/// its plain ones also through ``MM1Package/view(named:)``, and every stored tensor, quantization
/// parts included, through ``MM1Package/storedPart(named:)``.
public struct PackageLookupError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Why a name is refused.
    public enum Reason: Sendable, Equatable {
        /// Neither a parameter nor a stored tensor of the package.
        case noSuchTensor
        /// A quantized parameter asked for as a plain view: its stored tensor is codes, not values.
        case quantized(QuantizedFormat)
        /// A quantized parameter's scales or biases asked for as a parameter.
        case quantizationPart(of: String, role: StoredPart.Role)
    }
    /// The package's path.
    public let package: String
    /// The name asked for.
    public let name: String
    /// Why the name is refused.
    public let reason: Reason

    /// The error for `name` asked of the package at `package`.
    public init(package: String, name: String, reason: Reason) {
        self.package = package
        self.name = name
        self.reason = reason
    }

    /// What was asked, why it is refused, and what to call instead.
    public var description: String {
        switch reason {
        case .noSuchTensor:
            "\(package): no parameter or stored tensor named '\(name)'"
        case .quantized(let format):
            "\(package): '\(name)' is quantized (\(format)), so it has no plain view: parameter(named:) gives it with floats() to dequantize, storedPart(named:) its codes as stored"
        case .quantizationPart(let parameter, let role):
            "\(package): '\(name)' is not a parameter but the \(role.rawValue) of quantized parameter '\(parameter)': parameter(named: \"\(parameter)\") gives the parameter, storedPart(named:) this tensor as stored"
        }
    }
}
