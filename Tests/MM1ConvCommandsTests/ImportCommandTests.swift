import Foundation
import MM1TestSupport
import Testing

/// `mm1conv import`, run as a user would: default output beside the input, reports, exit statuses.
@Suite struct ImportCommandTests {
    /// A copy of the sample checkpoint in a fresh folder, so the default output lands there.
    static func sampleCopy() throws -> (TemporaryDirectory, String) {
        let dir = try TemporaryDirectory()
        let source = dir.file("tiny-mm1")
        try FileManager.default.copyItem(atPath: Fixtures.root.appendingPathComponent("Samples/tiny-mm1").path, toPath: source)
        return (dir, source)
    }

    @Test("import SRC alone writes SRC.mm1 beside it, refuses to overwrite (73), replaces with --force")
    func defaultOutput() throws {
        let (dir, source) = try Self.sampleCopy()
        defer { dir.remove() }
        let first = try CommandRunner.run(["import", source])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("wrote \(source).mm1"))
        #expect(first.stdout.contains("138 mapped"))
        #expect(FileManager.default.fileExists(atPath: "\(source).mm1/mm1.json"))
        let again = try CommandRunner.run(["import", source])
        #expect(again.status == 73)
        #expect(again.stderr.contains("exists; pass --force"))
        #expect(try CommandRunner.run(["import", source, "--force", "--dtype", "f16"]).status == 0)
        let inspect = try CommandRunner.run(["inspect", "\(source).mm1", "--json"])
        #expect(inspect.status == 0)
        #expect(inspect.stdout.contains("\"dtype\" : \"F16\""))
        let graph = try CommandRunner.run(["inspect", "--graph", "\(source).mm1"])
        #expect(graph.stdout.contains("16 image tokens per image"))
        #expect(dir.contents() == ["tiny-mm1", "tiny-mm1.mm1"])
    }

    @Test("a broken checkpoint: exit 65, the report names every problem, nothing is written; --json says incomplete")
    func brokenCheckpoint() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let source = Fixtures.path("dialects/missing-tensor")
        let r = try CommandRunner.run(["import", source, "--out", dir.file("x.mm1")])
        #expect(r.status == 65)
        #expect(r.stdout.contains("MISSING   language.layers.1.mlp.up.weight"))
        #expect(dir.contents().isEmpty)
        let j = try CommandRunner.run(["import", source, "--out", dir.file("x.mm1"), "--json"])
        let doc = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as! [String: Any]
        #expect(doc["complete"] as? Bool == false)
        #expect((doc["report"] as! [String: Any])["missing"] as? [String] == ["language.layers.1.mlp.up.weight"])
    }

    @Test("--allow-unused accepts a known extra tensor and lists it")
    func allowUnused() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let r = try CommandRunner.run(["import", Fixtures.path("dialects/extra-tensor"), "--out", dir.file("x.mm1"), "--allow-unused", #"^abstractor\.extra_head\."#])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("ignored   abstractor.extra_head.weight: --allow-unused"))
    }

    static let usageCases: [[String]] = [
        ["import", "Samples/tiny-mm1", "--dtype", "f8"],
        ["import", "Samples/tiny-mm1", "--preset", "mm1-99b"],
        ["import", "Samples/tiny-mm1", "--dialect", "keras"],
    ]

    @Test("bad options are usage errors (64) that say what is accepted", arguments: usageCases)
    func usage(_ arguments: [String]) throws {
        let r = try CommandRunner.run(arguments.map { $0 == "Samples/tiny-mm1" ? Fixtures.root.appendingPathComponent($0).path : $0 })
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("error: "))
    }

    @Test("a mapping file with a broken pattern is a data error naming the rule, not a crash")
    func brokenMapping() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let mapping = dir.file("m.json")
        try #"{"name": "mine", "rules": [{"pattern": "^(unclosed", "targets": [{"name": "x", "transform": {"op": "copy"}}]}]}"#
            .write(toFile: mapping, atomically: true, encoding: .utf8)
        let r = try CommandRunner.run(["import", Fixtures.path("dialects/honeybee"), "--mapping", mapping, "--dry-run"])
        #expect(r.status == 65, "\(r.stderr)")
        #expect(r.stderr.contains("mine: rules[0].pattern: \"^(unclosed\" is not a regular expression"))
    }

    @Test("a config that disagrees with the weights names the field and the tensors")
    func configDisagrees() throws {
        let r = try CommandRunner.run(["import", Fixtures.path("dialects/config-disagrees"), "--dry-run"])
        #expect(r.status == 65)
        #expect(r.stdout.contains("SHAPE     language.layers.0.attention.k.weight: expected [64, 64] but language_model.model.layers.0.self_attn.k_proj.weight gives [32, 64] (check language.kv_heads"))
    }
}
