import Foundation

/// Text that people read (`--help`, `--json`) pinned in `Tests/Snapshots/NAME`: a test compares what the tool
/// prints with the file. `RECORD_SNAPSHOTS=1 swift test --filter Snapshot` writes the files anew (review the diff
/// before committing it); a recording run still fails, so a re-record is never mistaken for a pass.
public enum Snapshot {
    /// The folder of the snapshot files.
    public static let folder = Fixtures.root.appendingPathComponent("Tests/Snapshots")

    /// Whether this run records instead of comparing.
    public static var recording: Bool { ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1" }

    /// Nil when `text` equals the snapshot `name`; else what differs (the first differing line, or that the
    /// file is missing, or that it was recorded).
    public static func mismatch(_ text: String, named name: String) -> String? {
        let url = folder.appendingPathComponent(name)
        if recording {
            try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try? Data(text.utf8).write(to: url)
            return "recorded \(url.path) (RECORD_SNAPSHOTS=1): review it and run again without it"
        }
        guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
            return "no snapshot \(url.path): run with RECORD_SNAPSHOTS=1 to record it"
        }
        guard expected != text else { return nil }
        let a = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let b = text.split(separator: "\n", omittingEmptySubsequences: false)
        let line = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
        let want = line < a.count ? String(a[line]) : "(end)", got = line < b.count ? String(b[line]) : "(end)"
        return "\(name) differs at line \(line + 1):\n  snapshot: \(want)\n  printed:  \(got)\n(RECORD_SNAPSHOTS=1 re-records)"
    }
}
