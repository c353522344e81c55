import Foundation
import MM1Formats
import MM1Tensor
import MM1TestSupport
import Testing

/// The GGUF reader and dequantizer against files written by gguf-py (Tests/Fixtures/gguf, made by
/// generate_gguf.py) and the values gguf-py's reader and `gguf.quants.dequantize` give for them.
@Suite struct GGUFTests {
    static func path(_ name: String) -> String { Fixtures.path("gguf/\(name)") }

    @Test("every dequantizable type (F32 … Q6_K, IQ4_NL) equals gguf.quants.dequantize bit for bit", arguments: ["types", "quantized-llama"])
    func dequantizesLikeGGUFPy(_ name: String) throws {
        let file = try GGUFFile(path: Self.path("\(name).gguf"))
        let expected = try SafetensorsFile(path: Self.path("\(name).expected.safetensors"))
        #expect(Set(file.ggufTensors.map(\.name)) == Set(expected.tensors.map(\.name)))
        var types = Set<String>()
        for t in file.ggufTensors {
            let want = try expected.view(named: t.name)
            let got = try file.view(named: t.name)
            #expect(got.shape.dimensions == want.shape.dimensions, "\(t.name)")
            let a = try got.floats().map(\.bitPattern), b = try want.floats().map(\.bitPattern)
            #expect(a == b, "\(t.name) (\(t.type)): first difference at \(zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1)")
            types.insert(t.type.description)
        }
        if name == "types" {
            #expect(types == ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL"])
        }
    }

    /// A value as gguf-py's reader reports it in metadata.expected.json: integers and strings as themselves,
    /// floats by their bits, arrays nested (the JSON's `written` when gguf-py flattened them).
    static func render(_ v: GGUFValue) -> String {
        switch v {
        case .float32(let f): String(format: "0x%08x", f.bitPattern)
        case .float64(let f): String(format: "0x%016llx", f.bitPattern)
        case .bool(let b): b ? "true" : "false"
        case .string(let s): s.debugDescription
        case .array(_, let values): "[" + values.map(render).joined(separator: ",") + "]"
        case .uint64(let n): "\(n)"
        default: v.integer.map { "\($0)" } ?? "?"
        }
    }

    static func render(json: Any, bits: Any?, bool: Bool) -> String {
        if let bits = bits as? String { return bits }
        if let bits = bits as? [String] { return "[" + bits.joined(separator: ",") + "]" }
        switch json {
        case let n as NSNumber: return bool ? (n.boolValue ? "true" : "false") : n.stringValue
        case let s as String: return s.debugDescription
        case let a as [Any]: return "[" + a.map { render(json: $0, bits: nil, bool: bool) }.joined(separator: ",") + "]"
        default: return "?"
        }
    }

    @Test("metadata of every value type (nested arrays, empty and non-ASCII strings, extremes) reads as gguf-py reads it; v2 files too",
          arguments: ["metadata.gguf", "metadata-nested.gguf", "v2.gguf"])
    func metadata(_ name: String) throws {
        let all = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.path("metadata.expected.json")))) as! [String: Any]
        let expected = all[name] as! [String: Any]
        let file = try GGUFFile(path: Self.path(name))
        #expect(Int(file.version) == expected["version"] as! Int)
        #expect(file.alignment == expected["alignment"] as! Int && file.dataOffset == expected["data_offset"] as! Int)
        let kvs = expected["kv"] as! [[String: Any]]
        #expect(file.metadataEntries.map(\.key) == kvs.map { $0["key"] as! String })
        for (entry, kv) in zip(file.metadataEntries, kvs) {
            #expect(entry.value.typeName == kv["type"] as! String, "\(entry.key)")
            let bool = kv["type"] as? String == "BOOL" || kv["element_type"] as? String == "BOOL"
            let want = Self.render(json: kv["written"] ?? kv["value"]!, bits: kv["bits"], bool: bool)
            #expect(Self.render(entry.value) == want, "\(entry.key)")
        }
        #expect(file.ggufTensors.map(\.name) == (expected["tensors"] as! [[String: Any]]).map { $0["name"] as! String })
    }

    @Test("inspect-facing metadata summarises long arrays; block-quantized tensors read as F32 and keep their stored type")
    func sourceView() throws {
        let opened = try Checkpoint.open(Self.path("quantized-llama.gguf"))
        #expect(opened.format == .gguf && opened.formatName == "gguf")
        #expect(opened.source.metadata["tokenizer.ggml.tokens"] == "[256 × STRING: \"<unk>\", \"<s>\", \"</s>\", …]")
        #expect(opened.storedTypes["token_embd.weight"] == "Q8_0")
        #expect(opened.source.info(named: "token_embd.weight")?.dtype == .f32)
        #expect(opened.source.info(named: "token_embd.weight")?.shape == [256, 64])
        #expect(opened.source.info(named: "blk.0.attn_norm.weight")?.dtype == .f32 && opened.storedTypes["blk.0.attn_norm.weight"] == nil)
    }

    /// Where mm1conv's verdict deliberately differs from the corpus's category (which follows ggml).
    static let decisions: [String: String] = [
        // The spec allows nested arrays and mm1conv reads them (ggml does not); 1000 levels is past its cap.
        "nested-array-depth-1000.gguf": "nesting_too_deep",
        // A string whose declared length runs past the end of the file is one violation; the corpus calls it
        // "truncated" where the file was cut inside the string and "string_too_long" where the length was
        // inflated, which no reader can tell apart.
        "truncated-in-key.gguf": "string_too_long",
        "truncated-in-value.gguf": "string_too_long",
    ]

    @Test("the malformed GGUF corpus: every file is refused with its category and subject; the odd-but-valid ones open")
    func malformedCorpus() throws {
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("malformed/gguf/MANIFEST.json")))) as! [String: Any]
        let reject = manifest["reject"] as! [String: [String: Any]]
        #expect(reject.count >= 24)
        for (name, entry) in reject.sorted(by: { $0.key < $1.key }) {
            let path = Fixtures.path("malformed/gguf/\(name)")
            do {
                let file = try GGUFFile(path: path)
                // A few cases are only found when a tensor is read.
                for t in file.ggufTensors { _ = try file.view(named: t.name) }
                Issue.record("\(name): accepted; expected \(entry["category"]!)")
            } catch let error as FormatError {
                guard case .gguf(let violation) = error.reason else { Issue.record("\(name): \(error)"); continue }
                let want = Self.decisions[name] ?? entry["category"] as! String
                #expect(violation.category == want, "\(name): \(error)")
                #expect(error.file == path)
                if let subject = entry["subject"] as? String, subject != "general.alignment" || error.key != nil {
                    #expect(error.tensor == subject || error.key == subject, "\(name): \(error) should name \(subject)")
                }
            } catch {
                Issue.record("\(name): unexpected \(error)")
            }
        }
        let accept = manifest["accept"] as! [String: [String: Any]]
        #expect(accept.count >= 3)
        for (name, entry) in accept.sorted(by: { $0.key < $1.key }) {
            let file = try GGUFFile(path: Fixtures.path("malformed/gguf/\(name)"))
            let tensors = entry["tensors"] as? [[String: Any]] ?? []
            #expect(file.ggufTensors.map(\.name) == tensors.map { $0["name"] as! String }, "\(name)")
            for t in file.ggufTensors { _ = try file.view(named: t.name) }
        }
    }
}

/// The Q8_0 / Q4_0 quantizers against the blocks gguf-py (bit-exact with ggml's reference quantizers)
/// made of the same rows: Gaussian, outliers, zeros, a constant row, magnitude ties of both signs,
/// scales beyond f16 and subnormal ones (Tests/Fixtures/generate_gguf_quant.py).
@Suite struct GGUFQuantizerTests {
    @Test("Q8_0 and Q4_0 blocks equal gguf.quants.quantize byte for byte", arguments: ["q8_0", "q4_0"])
    func matchesGGUFPy(_ kind: String) throws {
        let file = try SafetensorsFile(path: Fixtures.path("gguf/quantize.safetensors"))
        let source = try file.view(named: "source").floats()
        let expected = try file.view(named: kind).withUnsafeBytes { Array($0) }
        var ours = [UInt8](repeating: 0, count: expected.count)
        source.withUnsafeBufferPointer { x in
            ours.withUnsafeMutableBytes { out in
                if kind == "q8_0" { GGUFQuantizer.quantizeQ8_0(x, into: out) } else { GGUFQuantizer.quantizeQ4_0(x, into: out) }
            }
        }
        #expect(ours == expected, "first difference at byte \(zip(ours, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1)")
    }
}
