import Foundation

/// A fresh folder under the system's temporary directory, removed by ``remove()``.
public struct TemporaryDirectory {
    public let path: String
    /// A fresh folder under `parent` (the system's temporary directory by default).
    public init(_ label: String = "mm1conv-test", in parent: String? = nil) throws {
        let base = parent.map { URL(fileURLWithPath: $0) } ?? FileManager.default.temporaryDirectory
        let url = base.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    public func remove() { try? FileManager.default.removeItem(atPath: path) }
    /// Names in the folder, sorted (hidden files included).
    public func contents() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
}
