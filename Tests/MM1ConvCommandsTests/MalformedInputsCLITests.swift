import Foundation
import MM1TestSupport
import Testing

/// Every crafted bad input of every format (safetensors files and indexes, GGUF, zstd, HDF5: the corpora of
/// Tests/Fixtures/malformed, gguf/malformed, zstd/malformed and hdf5/malformed, each listed with its expected
/// error by the script that made it), run through the command a user would run: `mm1conv inspect PATH`
/// must exit 65 with one `error:` line naming the file or folder. The per-format suites check each error's exact
/// category; this one checks the user-facing contract across all of them at once.
@Suite struct MalformedInputsCLITests {
    struct Case: CustomTestStringConvertible, Sendable {
        let format: String
        let path: String
        let category: String
        var testDescription: String { "\(format) \((path as NSString).lastPathComponent): \(category)" }
    }

    static func json(_ relative: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url(relative)))) as? [String: Any] ?? [:]
    }

    static let cases: [Case] = {
        var all: [Case] = []
        for (name, value) in json("malformed/safetensors/expected.json") {
            all.append(Case(format: "safetensors", path: Fixtures.path("malformed/safetensors/\(name)"), category: (value as? [String: Any])?["reason"] as? String ?? "?"))
        }
        for (name, value) in json("malformed/index/expected.json") {
            // Index cases are folders (some hold several index files, or none).
            all.append(Case(format: "index", path: Fixtures.path("malformed/index/\(name)"), category: (value as? [String: Any])?["reason"] as? String ?? "?"))
        }
        for (name, value) in json("gguf/malformed/MANIFEST.json")["reject"] as? [String: Any] ?? [:] {
            all.append(Case(format: "gguf", path: Fixtures.path("gguf/malformed/\(name)"), category: (value as? [String: Any])?["category"] as? String ?? "?"))
        }
        for (name, value) in json("zstd/malformed/MANIFEST.json")["cases"] as? [String: Any] ?? [:] {
            all.append(Case(format: "zstd", path: Fixtures.path("zstd/malformed/\(name)"), category: (value as? [String: Any])?["category"] as? String ?? "?"))
        }
        for (name, value) in json("hdf5/malformed/MANIFEST.json")["cases"] as? [String: Any] ?? [:] {
            guard let v = value as? [String: Any], v["expect"] as? String == "error" else { continue }
            all.append(Case(format: "hdf5", path: Fixtures.path("hdf5/malformed/\(name)"), category: v["category"] as? String ?? "?"))
        }
        return all.sorted { $0.path < $1.path }
    }()

    @Test("the corpus spans every format and holds at least 60 bad inputs")
    func corpusSize() {
        let formats = Set(Self.cases.map(\.format))
        #expect(formats == ["safetensors", "index", "gguf", "zstd", "hdf5"])
        #expect(Self.cases.count >= 60, "\(Self.cases.count) cases")
    }

    @Test("inspect refuses each with exit 65 and one error line naming the file or folder", arguments: cases)
    func refused(_ c: Case) throws {
        let r = try CommandRunner.run(["inspect", c.path])
        #expect(r.status == 65, "\(c.testDescription): status \(r.status), \(r.stderr)")
        let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
        #expect(lines.count == 1, "\(c.testDescription): \(r.stderr)")
        #expect(r.stderr.contains((c.path as NSString).lastPathComponent), "\(c.testDescription): \(r.stderr)")
    }
}
