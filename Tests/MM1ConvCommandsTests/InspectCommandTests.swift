import Foundation
import MM1TestSupport
import Testing

/// `mm1conv inspect`, run as a separate process: output, JSON, and exit statuses.
@Suite struct InspectCommandTests {
    @Test("the table lists tensors, totals by dtype and metadata")
    func table() throws {
        let r = try CommandRunner.run(["inspect", Fixtures.path("safetensors/all_dtypes.safetensors")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("safetensors, 1 file, 20 tensors"))
        #expect(r.stdout.contains("generator: generate_fixtures.py seed=20261129"))
        let row = r.stdout.split(separator: "\n").first { $0.hasPrefix("model.layers.0.self_attn.q_proj.weight ") }
        #expect(row?.split(separator: " ", omittingEmptySubsequences: true) == ["model.layers.0.self_attn.q_proj.weight", "BF16", "[8,", "4]", "64"])
        #expect(r.stdout.contains("totals by dtype:"))
        #expect(r.stderr.isEmpty, "no progress bar when stderr is not a terminal")
    }

    @Test("--json describes a sharded checkpoint: files, tensors, totals; --hash adds SHA-256 per tensor")
    func json() throws {
        let r = try CommandRunner.run(["inspect", Fixtures.path("safetensors/sharded"), "--json", "--hash"])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect(doc["format"] as? String == "safetensors")
        #expect((doc["files"] as! [String]).count == 4)
        let tensors = doc["tensors"] as! [[String: Any]]
        #expect(tensors.count == 6)
        let norm = tensors.first { $0["name"] as? String == "model.norm.weight" }!
        #expect(norm["dtype"] as? String == "F32")
        #expect(norm["shape"] as? [Int] == [32])
        #expect(norm["bytes"] as? Int == 128)
        // SHA-256 of 32 little-endian 1.0f values, computed with Python's hashlib.
        #expect(norm["sha256"] as? String == "b638277a8690e175a9137feff1e43c067f9faf4e2f600caf468fb05b0403b717")
        let totals = doc["totals"] as! [[String: Any]]
        #expect(totals.map { $0["dtype"] as! String } == ["BF16", "F32"])
        #expect(doc["totalBytes"] as? Int == tensors.reduce(0) { $0 + ($1["bytes"] as! Int) })
    }

    static let statusCases: [([String], Int32)] = [
        (["inspect"], Int32(64)),
        (["inspect", "--bogus", "x"], 64),
        (["inspect", "/nonexistent/model.safetensors"], 66),
        (["inspect", Fixtures.path("MANIFEST.json")], 65),
    ]

    @Test("exit statuses: 64 usage, 65 malformed input, 66 missing input", arguments: statusCases)
    func statuses(_ arguments: [String], _ status: Int32) throws {
        let r = try CommandRunner.run(arguments)
        #expect(r.status == status, "stderr: \(r.stderr)")
        #expect(!r.stderr.isEmpty)
    }

    @Test("a malformed file's error names the file and the reason")
    func malformedMessage() throws {
        let r = try CommandRunner.run(["inspect", Fixtures.path("MANIFEST.json")])
        #expect(r.stderr.hasPrefix("error: \(Fixtures.path("MANIFEST.json")): invalid index"))
    }
}
