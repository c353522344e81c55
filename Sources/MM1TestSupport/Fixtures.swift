import Foundation

/// Locates committed fixtures (`Tests/Fixtures/…`) and the repository root, from this file's path.
public enum Fixtures {
    /// The repository root.
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `Tests/Fixtures/<relative>`.
    public static func url(_ relative: String) -> URL { root.appendingPathComponent("Tests/Fixtures/\(relative)") }

    /// `Tests/Fixtures/<relative>` as a path.
    public static func path(_ relative: String) -> String { url(relative).path }
}
