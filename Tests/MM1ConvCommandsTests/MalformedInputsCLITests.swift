import Foundation
import MM1TestSupport
import Testing

/// Every crafted bad input of every format (safetensors files and indexes, GGUF, zstd, HDF5, PyTorch pickles: the one folder
/// Tests/Fixtures/malformed, a subfolder per format, each file listed with its expected error by the script
/// that made it; see its README.md), run through the command a user would run: `mm1conv inspect PATH`
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
        for (name, value) in json("malformed/gguf/MANIFEST.json")["reject"] as? [String: Any] ?? [:] {
            all.append(Case(format: "gguf", path: Fixtures.path("malformed/gguf/\(name)"), category: (value as? [String: Any])?["category"] as? String ?? "?"))
        }
        for (name, value) in json("malformed/zstd/MANIFEST.json")["cases"] as? [String: Any] ?? [:] {
            all.append(Case(format: "zstd", path: Fixtures.path("malformed/zstd/\(name)"), category: (value as? [String: Any])?["category"] as? String ?? "?"))
        }
        for (name, value) in json("malformed/hdf5/MANIFEST.json")["cases"] as? [String: Any] ?? [:] {
            guard let v = value as? [String: Any], v["expect"] as? String == "error" else { continue }
            all.append(Case(format: "hdf5", path: Fixtures.path("malformed/hdf5/\(name)"), category: v["category"] as? String ?? "?"))
        }
        for format in ["pickle", "torch-zip"] {
            for (name, value) in json("malformed/\(format)/expected.json") {
                all.append(Case(format: format, path: Fixtures.path("malformed/\(format)/\(name)"), category: (value as? [String: Any])?["reason"] as? String ?? "?"))
            }
        }
        return all.sorted { $0.path < $1.path }
    }()

    @Test("the corpus spans every format and holds at least 60 bad inputs")
    func corpusSize() {
        let formats = Set(Self.cases.map(\.format))
        #expect(formats == ["safetensors", "index", "gguf", "zstd", "hdf5", "pickle", "torch-zip"])
        #expect(Self.cases.count >= 60, "\(Self.cases.count) cases")
    }

    /// Everything the expectation files name, reject or accept (accepted odd files and HDF5's helper targets).
    static let listed: Set<String> = {
        var names: Set<String> = []
        for folder in ["safetensors", "index", "safetensors-accept", "pickle", "torch-zip"] {
            names.formUnion(json("malformed/\(folder)/expected.json").keys.map { "\(folder)/\($0)" })
        }
        let gguf = json("malformed/gguf/MANIFEST.json")
        for key in ["reject", "accept"] { names.formUnion((gguf[key] as? [String: Any] ?? [:]).keys.map { "gguf/\($0)" }) }
        names.formUnion((json("malformed/zstd/MANIFEST.json")["cases"] as? [String: Any] ?? [:]).keys.map { "zstd/\($0)" })
        let hdf5 = json("malformed/hdf5/MANIFEST.json")
        names.formUnion((hdf5["cases"] as? [String: Any] ?? [:]).keys.map { "hdf5/\($0)" })
        names.formUnion((hdf5["helpers"] as? [String: Any] ?? [:]).keys.map { "hdf5/\($0)" })
        return names
    }()

    @Test("every file in the folder is listed with what it must produce")
    func everyFileListed() throws {
        let root = Fixtures.path("malformed")
        let bookkeeping: Set<String> = ["README.md", "MANIFEST.json", "expected.json"]
        var unlisted: [String] = []
        var seen = 0
        for format in try FileManager.default.contentsOfDirectory(atPath: root).sorted() {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: "\(root)/\(format)", isDirectory: &isFolder), isFolder.boolValue else { continue }
            for entry in try FileManager.default.contentsOfDirectory(atPath: "\(root)/\(format)") where !bookkeeping.contains(entry) {
                seen += 1
                // A file, or (for index cases and GGUF's accepted files) a folder listed by name or holding listed files.
                let relative = "\(format)/\(entry)"
                if Self.listed.contains(relative) || Self.listed.contains(where: { $0.hasPrefix(relative + "/") }) { continue }
                unlisted.append(relative)
            }
        }
        #expect(seen >= 60)
        #expect(unlisted.isEmpty, "files without an expected result: \(unlisted)")
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
