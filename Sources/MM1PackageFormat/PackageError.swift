/// Why a folder is not a usable MM1 package.
public struct PackageError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// No `mm1.json`: not a package, or an import that did not finish.
        case noManifest
        case invalidManifest(String)
        case unsupportedVersion(format: String, version: Int)
        case shardMissing(String)
        /// A file the manifest lists beside the shards (a tokenizer file) is missing (`actual` nil) or not the
        /// size the manifest records.
        case fileSizeMismatch(file: String, expected: Int, actual: Int?)
        case tensorMismatch(tensor: String, detail: String)
        case graphMismatch(String)
    }
    public let path: String
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
