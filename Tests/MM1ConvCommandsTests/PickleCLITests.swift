import Foundation
import MM1Formats
import MM1Conversion
import MM1PackageFormat
import MM1TestSupport
import Testing

/// PyTorch checkpoints through the commands a user runs: every hostile file refused by `inspect` and
/// `import` with exit 65, nothing written, and no payload run; the tiny sample saved as `.bin` shards
/// imports to the same package as its safetensors original.
@Suite struct PickleCLITests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let reason: String
        let global: String?
        let marker: String?
        var path: String { Fixtures.path("malformed/pickle/\(name)") }
        var testDescription: String { "\(name): \(reason)" }
    }

    static let cases: [Case] = {
        let url = Fixtures.url("malformed/pickle/expected.json")
        guard let data = try? Data(contentsOf: url), let top = (try? JSONSerialization.jsonObject(with: data)) as? [String: [String: Any]] else { return [] }
        return top.map { name, o in
            Case(name: name, reason: o["reason"] as? String ?? "?", global: o["global"] as? String, marker: o["marker"] as? String)
        }.sorted { $0.name < $1.name }
    }()

    @Test("the hostile corpus holds at least 40 files, payloads with markers among them")
    func corpus() {
        #expect(Self.cases.count >= 40)
        #expect(Self.cases.filter { $0.marker != nil }.count >= 10)
    }

    @Test("inspect and import refuse each hostile file: exit 65, one error line naming it, no output, no payload run", arguments: cases)
    func refused(_ c: Case) throws {
        if let marker = c.marker { try? FileManager.default.removeItem(atPath: marker) }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let out = dir.file("out.mm1")
        for arguments in [["inspect", c.path], ["inspect", "--hash", "--json", c.path], ["import", c.path, "--out", out, "--preset", "tiny-dense"]] {
            let r = try CommandRunner.run(arguments)
            #expect(r.status == 65, "\(arguments[0]) \(c.name): status \(r.status), \(r.stderr)")
            let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
            #expect(errors.count == 1, "\(c.name): \(r.stderr)")
            #expect(r.stderr.contains(c.name), "\(c.name): \(r.stderr)")
            if let global = c.global, c.reason == "forbiddenGlobal" {
                #expect(r.stderr.contains("'\(global)'") && r.stderr.contains("nothing was run"), "\(c.name): \(r.stderr)")
            }
            #expect(r.stdout.isEmpty || arguments[0] == "import", "\(c.name): \(r.stdout)")
        }
        #expect(!FileManager.default.fileExists(atPath: out), "\(c.name): import left \(out)")
        #expect(dir.contents().isEmpty, "\(c.name): \(dir.contents())")
        if let marker = c.marker { #expect(!FileManager.default.fileExists(atPath: marker), "\(c.name): the payload ran") }
    }

    @Test("the tiny sample saved as .bin shards imports to a package byte-identical to the safetensors import, and verifies")
    func sampleThroughPickles() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let fromBin = dir.file("bin.mm1"), fromSafetensors = dir.file("st.mm1")
        let a = try CommandRunner.run(["import", Fixtures.path("pickle/tiny-mm1-bin"), "--out", fromBin])
        #expect(a.status == 0, "\(a.stderr)")
        let b = try CommandRunner.run(["import", Fixtures.root.appendingPathComponent("Samples/tiny-mm1").path, "--out", fromSafetensors])
        #expect(b.status == 0, "\(b.stderr)")
        let x = try MM1Package.open(fromBin), y = try MM1Package.open(fromSafetensors)
        #expect(x.storage.map(\.name) == y.storage.map(\.name))
        for part in y.storage {
            let p = try x.storedPart(named: part.name).view, q = part.view
            #expect(p.dtype == q.dtype && p.shape == q.shape && p.bytes.elementsEqual(q.bytes), "\(part.name)")
        }
        let v = try CommandRunner.run(["verify", fromBin, "--reference", Fixtures.root.appendingPathComponent("Samples/tiny-mm1/reference.safetensors").path])
        #expect(v.status == 0, "\(v.stderr)")
    }

    @Test("inspect of a pickle lists its globals, in the table and in JSON")
    func globals() throws {
        let path = Fixtures.path("pickle/state_dict.pt")
        let table = try CommandRunner.run(["inspect", path])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("pickle globals") && table.stdout.contains("torch._utils._rebuild_tensor_v2"))
        let json = try CommandRunner.run(["inspect", "--json", path])
        #expect(json.stdout.contains("\"pickleGlobals\""))
    }
}
