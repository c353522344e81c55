import Foundation
import MM1Conversion
import MM1PackageFormat
import MM1Quantization
import MM1Tensor
import MM1TestSupport
import Testing

/// `mm1conv quantize`, run as a user would: packages that open and dequantize to what the
/// quantizer made of the source, the summary, the drift, the defaults, and refusals.
@Suite struct QuantizeCommandTests {
    static let sample = Fixtures.samplePath

    static func samplePackage(_ dir: TemporaryDirectory) throws -> String {
        let out = dir.file("tiny.mm1")
        let r = try CommandRunner.run(["import", sample, "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        return out
    }

    @Test("int8, int4 symmetric and affine, with and without searched scales: every quantized parameter dequantizes to the quantizer's output of the source",
          arguments: [["--int8"], ["--int4"], ["--int4", "--affine", "--group-size", "64"], ["--int4", "--optimize-scales"], ["--int8", "--group-size", "32", "--scale-dtype", "f32"]])
    func quantizes(_ options: [String]) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let source = try Self.samplePackage(dir)
        let out = dir.file("q.mm1")
        let r = try CommandRunner.run(["quantize", source, "--out", out] + options)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("drift: image-embedding cosine"))
        let original = try MM1Package.open(source), quantized = try MM1Package.open(out)
        #expect(quantized.isQuantized)
        var checked = 0
        for info in original.parameters.map(\.spec) {
            let stored = try quantized.parameter(named: info.name)
            let values = try original.parameter(named: info.name).floats()
            guard case .quantized(let q) = stored else {
                #expect(try stored.floats() == values, "\(info.name) kept in float")
                continue
            }
            // Quantize the source's values again, here, and compare the stored parts byte for byte.
            let again = try GroupQuantizer(format: q.format, scaleDType: q.scales.dtype, optimizeScales: options.contains("--optimize-scales"))
                .quantize(info.name, values, shape: q.layout.shape)
            func bytes(_ v: TensorView?) -> [UInt8] { v?.withUnsafeBytes { Array($0) } ?? [] }
            #expect(bytes(again.codes) == bytes(q.codes), "\(info.name) codes")
            #expect(bytes(again.scales) == bytes(q.scales), "\(info.name) scales")
            #expect(bytes(again.biases) == bytes(q.biases), "\(info.name) biases")
            checked += 1
        }
        #expect(checked >= 40)
    }

    @Test("defaults: int8 per output channel beside SRC as NAME-int8.mm1; inside a package folder SRC may be omitted; --json summary")
    func defaults() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let source = try Self.samplePackage(dir)
        let r = try CommandRunner.run(["quantize", "--int8", "--json"], in: source)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect((doc["package"] as? String)?.hasSuffix("/tiny-int8.mm1") == true)
        let package = try MM1Package.open(dir.file("tiny-int8.mm1"))
        let q = try #require(try package.parameter(named: "language.layers.0.mlp.down.weight").quantized)
        #expect(q.format == QuantizedFormat(bits: .int8, mode: .symmetric, groupSize: q.layout.cols))
        #expect(q.scales.shape.dimensions == [q.layout.rows, 1])
        // Kept in float by default: norms, embeddings, head, convolutions, router.
        #expect(try package.parameter(named: "language.embed_tokens.weight").quantized == nil)
        #expect(try package.parameter(named: "vision.patch_embed.weight").quantized == nil)
        let summary = doc["summary"] as! [String: Any]
        let total = (summary["parts"] as! [[String: Any]]).last!
        #expect(total["name"] as? String == "total")
        let drift = doc["drift"] as! [String: Any]
        let logits = (drift["stages"] as! [[String: Any]]).first { $0["stage"] as? String == "logits" }!
        #expect(((logits["logits"] as! [String: Any])["top1_agreement"] as! Double) > 0.9)
    }

    @Test("--type and --keep rules; a group size that does not divide a layer falls back to int8 per channel, reported")
    func rules() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let source = try Self.samplePackage(dir)
        let out = dir.file("r.mm1")
        let r = try CommandRunner.run(["quantize", source, "--int4", "--out", out, "--no-verify",
                                       "--type", "embed_tokens=int8", "--type", "^vision\\.layers\\.0\\..*=f16", "--keep", "^language\\.layers\\.3\\."])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("fallback: connector.readout.0.weight [64, 48]: input dimension 48 is not a multiple of the group size 32; stored as int8 per output channel"))
        let p = try MM1Package.open(out)
        #expect(try p.parameter(named: "language.embed_tokens.weight").quantized?.format.bits == .int8)
        #expect(try p.parameter(named: "vision.layers.0.attention.q.weight").view?.dtype == .f16)
        #expect(try p.parameter(named: "language.layers.3.attention.q.weight").quantized == nil)
        #expect(try p.parameter(named: "language.layers.2.attention.q.weight").quantized?.format == QuantizedFormat(bits: .int4, mode: .symmetric, groupSize: 32))
        #expect(try p.parameter(named: "connector.readout.0.weight").quantized?.format.bits == .int8)
        // inspect --graph of the package says how each parameter is stored, and the bits per weight per part.
        let graph = try CommandRunner.run(["inspect", "--graph", out])
        #expect(graph.status == 0)
        #expect(graph.stdout.contains("weight  [256, 64]  tokenEmbedding  quantizable  stored int8 symmetric g32"), "\(graph.stdout)")
        #expect(graph.stdout.contains("stored int4 symmetric g32") && graph.stdout.contains("stored F16"))
        #expect(graph.stdout.contains("storage (bits per weight):") && graph.stdout.contains("  total: "))
    }

    @Test("refused, nothing written: an already quantized package (65), an unknown --type target (64), a group size that divides nothing (64), a bad group size (64)")
    func refusals() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let source = try Self.samplePackage(dir)
        let q = dir.file("q.mm1")
        #expect(try CommandRunner.run(["quantize", source, "--int4", "--out", q, "--no-verify"]).status == 0)
        let cases: [([String], Int32, String)] = [
            (["quantize", q, "--int8", "--out", dir.file("a.mm1")], 65, "is already quantized"),
            (["quantize", source, "--int8", "--type", "x=int3", "--out", dir.file("b.mm1")], 64, "unknown target \"int3\""),
            (["quantize", source, "--int4", "--group-size", "128", "--keep", "down|fc2|mlp\\.2", "--out", dir.file("c.mm1")], 64, "divides the input dimension of no parameter"),
            (["quantize", source, "--int4", "--group-size", "48", "--out", dir.file("d.mm1")], 64, "--group-size must be 32, 64 or 128"),
        ]
        for (args, status, message) in cases {
            let r = try CommandRunner.run(args)
            #expect(r.status == status, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: args[args.firstIndex(of: "--out")! + 1]))
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test("verify works on quantized packages: --against the source names the drift; --integrity covers scales and codes")
    func verifyQuantized() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let source = try Self.samplePackage(dir)
        let q = dir.file("q.mm1")
        #expect(try CommandRunner.run(["quantize", source, "--int8", "--out", q, "--no-verify"]).status == 0)
        let v = try CommandRunner.run(["verify", source, "--against", q, "--json"])
        #expect(v.status == 0, "\(v.stderr)")
        let doc = try JSONSerialization.jsonObject(with: Data(v.stdout.utf8)) as! [String: Any]
        let image = (doc["stages"] as! [[String: Any]]).first { $0["stage"] as? String == "image_embeds" }!
        let cosine = (image["metrics"] as! [String: Any])["cosine"] as! Double
        #expect(cosine > 0.999 && cosine < 1, "int8 image-embedding cosine \(cosine)")
        #expect(try CommandRunner.run(["verify", q, "--integrity"]).status == 0)
    }
}
