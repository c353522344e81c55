import Foundation
import MM1TestSupport
import Testing

/// `mm1conv verify`, run as a user would: tables, JSON, exit statuses.
@Suite struct VerifyCommandTests {
    static let sample = Fixtures.root.appendingPathComponent("Samples/tiny-mm1").path
    static let reference = "\(sample)/reference.safetensors"

    /// The sample imported into `dir/tiny.mm1`.
    static func samplePackage(_ dir: TemporaryDirectory) throws -> String {
        let out = dir.file("tiny.mm1")
        let r = try CommandRunner.run(["import", sample, "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        return out
    }

    @Test("verify --reference: every stage within 1e-4, exit 0; --json carries the same verdict")
    func passes() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Self.samplePackage(dir)
        let r = try CommandRunner.run(["verify", package, "--reference", Self.reference])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("PASS: all 14 stages within the tolerance"))
        #expect(r.stdout.contains("top-1 agreement 100.0% of 24 tokens"))
        let j = try CommandRunner.run(["verify", package, "--reference", Self.reference, "--json"])
        let doc = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as! [String: Any]
        #expect(doc["passed"] as? Bool == true && doc["mode"] as? String == "reference")
        #expect((doc["stages"] as! [[String: Any]]).count == 14)
    }

    @Test("a package whose config has a wrong eps: exit 1, the first diverging stage is named")
    func wrongEpsFails() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Self.samplePackage(dir)
        let manifest = "\(package)/mm1.json"
        let text = try String(contentsOfFile: manifest, encoding: .utf8)
        // The vision encoder's norm_eps (1e-05) is the only one written that way in the vision block.
        let vision = try #require(text.range(of: "\"vision\""))
        let eps = try #require(text.range(of: "\"norm_eps\" : 1e-05", range: vision.upperBound..<text.endIndex))
        try text.replacingCharacters(in: eps, with: "\"norm_eps\" : 0.01").write(toFile: manifest, atomically: true, encoding: .utf8)
        let r = try CommandRunner.run(["verify", package, "--reference", Self.reference])
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("first diverging stage: vision.embeddings"))
    }

    @Test("verify --against: a package against itself (layerwise too) reports zero drift, exit 0")
    func against() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Self.samplePackage(dir)
        let f16 = dir.file("tiny-f16.mm1")
        #expect(try CommandRunner.run(["import", Self.sample, "--out", f16, "--dtype", "f16"]).status == 0)
        let same = try CommandRunner.run(["verify", package, "--against", f16, "--seed", "5", "--layerwise", "--tolerance", "0"])
        #expect(same.status == 0, "\(same.stdout)\(same.stderr)")  // the sample's weights are f16-exact
        #expect(same.stdout.contains("KL per token: mean 0.00e+00"))
        let r = try CommandRunner.run(["verify", package, "--against", f16, "--reference", Self.reference, "--json"])
        let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect(r.status == 0 && doc["mode"] as? String == "against" && doc["tolerance"] == nil)
    }

    @Test("the sample, zstd-compressed (detected by magic), imports and passes verify against the same PyTorch reference")
    func compressedSample() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let out = dir.file("z.mm1")
        let imported = try CommandRunner.run(["import", Fixtures.path("zstd/tiny-mm1/tiny-mm1.safetensors.zst"), "--out", out])
        #expect(imported.status == 0, "\(imported.stderr)")
        let r = try CommandRunner.run(["verify", out, "--reference", Self.reference])
        #expect(r.status == 0 && r.stdout.contains("PASS: all 14 stages"), "\(r.stdout)")
    }

    @Test("the tiny model as an HDF5 file (read in the worker process) imports and passes verify against PyTorch's activations")
    func hdf5Model() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let out = dir.file("h.mm1")
        let imported = try CommandRunner.run(["import", Fixtures.path("hdf5/nested.h5"), "--preset", "tiny-dense", "--out", out])
        #expect(imported.status == 0, "\(imported.stdout)\(imported.stderr)")
        let r = try CommandRunner.run(["verify", out, "--reference", Fixtures.path("forward/cabs-dense/reference.safetensors")])
        #expect(r.status == 0 && r.stdout.contains("PASS"), "\(r.stdout)")
    }

    @Test("export --format gguf: writes PKG-TYPE.gguf beside the package, refuses to overwrite (73), rejects unknown types (64)")
    func exportGGUF() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Self.samplePackage(dir)
        let r = try CommandRunner.run(["export", package, "--format", "gguf", "--type", "q4_0"])
        #expect(r.status == 0 && r.stdout.contains("wrote \(dir.file("tiny-q4_0.gguf"))"), "\(r.stdout)\(r.stderr)")
        let inspect = try CommandRunner.run(["inspect", dir.file("tiny-q4_0.gguf")])
        #expect(inspect.stdout.contains("blk.0.attn_q.weight") && inspect.stdout.contains("Q4_0"))
        #expect(FileManager.default.fileExists(atPath: dir.file("tiny-q4_0-vision.gguf")))
        #expect(try CommandRunner.run(["export", package, "--type", "q4_0"]).status == 73)
        #expect(try CommandRunner.run(["export", package, "--type", "q3_k"]).status == 64)
    }

    @Test("export to GGUF (language + vision files), import the folder back: the same model (drift exactly 0 against the original), and it passes verify against PyTorch")
    func ggufRoundTrip() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Self.samplePackage(dir)
        try FileManager.default.createDirectory(atPath: dir.file("gguf"), withIntermediateDirectories: false)
        let exported = try CommandRunner.run(["export", package, "--type", "f32", "--out", dir.file("gguf/tiny.gguf")])
        #expect(exported.status == 0 && exported.stdout.contains("tiny-vision.gguf"), "\(exported.stderr)")
        let back = dir.file("back.mm1")
        let imported = try CommandRunner.run(["import", dir.file("gguf"), "--out", back])
        #expect(imported.status == 0, "\(imported.stdout)\(imported.stderr)")
        let same = try CommandRunner.run(["verify", back, "--against", package, "--tolerance", "0"])
        #expect(same.status == 0 && same.stdout.contains("PASS"), "\(same.stdout)")
        let r = try CommandRunner.run(["verify", back, "--reference", Self.reference])
        #expect(r.status == 0 && r.stdout.contains("PASS: all 14 stages"), "\(r.stdout)")
    }

    @Test("usage and input errors have their own statuses: 64 no mode, 66 missing file, 65 malformed reference")
    func errors() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Self.samplePackage(dir)
        #expect(try CommandRunner.run(["verify", package]).status == 64)
        #expect(try CommandRunner.run(["verify", package, "--reference", Self.reference, "--layerwise"]).status == 64)
        let missing = try CommandRunner.run(["verify", package, "--reference", dir.file("nope.safetensors")])
        #expect(missing.status == 66)
        // A reference file with a tensor that is neither input nor expectation.
        let bad = dir.file("bad.safetensors")
        try writeSafetensors([(.init(name: "input.input_ids", dtype: .i64, shape: [1, 1]), [1, 0, 0, 0, 0, 0, 0, 0]),
                              (.init(name: "logits", dtype: .f32, shape: [1]), [0, 0, 0, 0])], to: bad)
        let r = try CommandRunner.run(["verify", package, "--reference", bad])
        #expect(r.status == 65)
        #expect(r.stderr.contains("bad.safetensors: tensor logits: is neither an input"))
        let other = try CommandRunner.run(["verify", package, "--against", dir.file("nope.mm1")])
        #expect(other.status == 66)
    }
}
