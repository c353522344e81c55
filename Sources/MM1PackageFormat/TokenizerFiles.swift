import Foundation
import MM1Formats

/// The tokenizer files of a Hugging Face checkpoint, carried into the package (`tokenizer/NAME`, listed
/// with their SHA-256 in the manifest's `files`) so that exports can include the tokenizer.
public enum TokenizerFiles {
    /// The files looked for, by name.
    public static let names = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model"]
    /// Where a package keeps them.
    public static let folder = "tokenizer"

    /// The tokenizer files beside `source` (a folder, or a file's folder; a package's `tokenizer/` too).
    public static func find(beside source: String) -> [String] {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory)
        let base = isDirectory.boolValue ? source : (source as NSString).deletingLastPathComponent
        for folder in ["\(base.isEmpty ? "." : base)/\(Self.folder)", base.isEmpty ? "." : base] {
            let found = names.map { "\(folder)/\($0)" }.filter { FileManager.default.fileExists(atPath: $0) }
            if !found.isEmpty { return found }
        }
        return []
    }

    /// Copies the package's tokenizer files into `folder` (an export's), beside its weights, where
    /// Hugging Face and mlx-lm look for them.
    package static func copy(from package: MM1Package, into folder: String) throws {
        for name in (package.manifest.files ?? [:]).keys.sorted() where isSafePackagePath(name) {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(package.path)/\(name)"))
            let file = try AtomicFile(path: "\(folder)/\((name as NSString).lastPathComponent)")
            try file.write(Array(data))
            try file.commit()
        }
    }

    /// A path inside a package that names one of the tokenizer files (no `..`, no other folder).
    package static func isSafePackagePath(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 2 && parts[0] == Substring(folder) && names.contains(String(parts[1]))
    }
}
