import Foundation
import MM1Formats
import MM1TestSupport
import Testing

/// Every generated fixture is pinned: `Tests/Fixtures/SHA256SUMS` (written by `hash_fixtures.py`, the last step of
/// `make fixtures`) lists the SHA-256 of each file under `Tests/Fixtures` and the bundled samples, and the files on
/// disk must be exactly those, with those hashes.
@Suite struct FixtureIntegrityTests {
    static let folders = ["Tests/Fixtures", "Samples/tiny-mm1", "Samples/tiny-llama"]
    static let listPath = "Tests/Fixtures/SHA256SUMS"

    /// The list: repository-relative path → hex digest.
    static func listed() throws -> [String: String] {
        let text = try String(contentsOf: Fixtures.root.appendingPathComponent(listPath), encoding: .utf8)
        var entries: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            try #require(parts.count == 2 && parts[0].count == 64 && parts[1].hasPrefix(" "), "malformed line: \(line)")
            entries[String(parts[1].dropFirst())] = String(parts[0])
        }
        return entries
    }

    /// The files on disk that the list must cover (everything but generator scripts, Markdown and the list).
    static func onDisk() -> Set<String> {
        var found: Set<String> = []
        for folder in folders {
            let base = Fixtures.root.appendingPathComponent(folder)
            guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey]) else { continue }
            for case let url as URL in walker {
                guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true,
                      !["py", "md", "pyc"].contains(url.pathExtension), !url.path.contains("/__pycache__/") else { continue }
                let relative = folder + url.path.dropFirst(base.path.count)
                if relative != listPath { found.insert(relative) }
            }
        }
        return found
    }

    @Test("the list covers every fixture file and names no file that is gone (rerun Tests/Fixtures/hash_fixtures.py)")
    func coverage() throws {
        let listed = Set(try Self.listed().keys)
        let disk = Self.onDisk()
        #expect(disk.count > 400, "only \(disk.count) fixture files found: is the walk looking in the right place?")
        #expect(disk.subtracting(listed).sorted() == [], "files not in \(Self.listPath)")
        #expect(listed.subtracting(disk).sorted() == [], "listed files that are not there")
    }

    @Test("every fixture file has the listed SHA-256 (regenerate it, or rerun Tests/Fixtures/hash_fixtures.py)")
    func hashes() throws {
        for (relative, digest) in try Self.listed().sorted(by: { $0.key < $1.key }) {
            let path = Fixtures.root.appendingPathComponent(relative).path
            guard FileManager.default.fileExists(atPath: path) else { continue }  // reported by coverage()
            #expect(try Hashing.sha256(file: path).digest == digest, "\(relative) changed")
        }
    }
}
