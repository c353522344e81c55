import Foundation
import MM1Formats
import MM1Tensor
import MM1TestSupport
import Testing

/// HDF5 weight files written by h5py (Tests/Fixtures/hdf5, made by generate_hdf5.py) read through libhdf5:
/// flat and nested layouts, compression, f16/f64, bf16 encodings, a user block; the damaged and hostile
/// corpus refused by category. (The tool reads HDF5 in a child process; VerifyCommandTests-style CLI tests
/// and the crash test below cover that path.)
@Suite(.serialized) struct HDF5Tests {
    static let canonical = Fixtures.path("dialects/canonical-tiny-dense.safetensors")

    @Test("flat, nested (gzip, shuffle, fletcher32, f16, f64, compact) and user-block files give the canonical tensors",
          arguments: ["flat.h5", "nested.h5", "userblock.h5", "bf16-attr.h5"])
    func readsCanonicalTensors(_ name: String) throws {
        let opened = try Checkpoint.open(Fixtures.path("hdf5/\(name)"))
        #expect(opened.format == .hdf5 && opened.displayName == Fixtures.path("hdf5/\(name)"))
        let reference = try SafetensorsFile(path: Self.canonical)
        let infos = opened.source.tensors
        if name == "flat.h5" || name == "nested.h5" { #expect(infos.count == reference.tensors.count) }
        for info in infos {
            let want = try reference.view(named: info.name).floats().map(\.bitPattern)
            #expect(try opened.source.view(named: info.name).floats().map(\.bitPattern) == want, "\(name): \(info.name) (\(info.dtype))")
        }
        if name == "bf16-attr.h5" {
            #expect(infos.filter { $0.dtype == .bf16 }.count == 3, "uint16 + attribute, tagged opaque, bf16-layout float")
        }
        if name == "nested.h5" { #expect(Set(infos.map(\.dtype)).isSuperset(of: [.f16, .f32, .f64])) }
    }

    @Test("Keras 3 .weights.h5, Keras 2 save_weights and model.save layouts: layer.variable names, Dense kernels [out, in], convolutions OIHW",
          arguments: ["keras3.weights.h5", "keras2-weights.h5", "keras2-model.h5"])
    func kerasLayouts(_ name: String) throws {
        let opened = try Checkpoint.open(Fixtures.path("hdf5/\(name)"))
        let expected = try SafetensorsFile(path: Fixtures.path("hdf5/keras.expected.safetensors"))
        #expect(opened.source.tensors.map(\.name).sorted() == expected.tensors.map(\.name).sorted())
        for info in expected.tensors {
            let got = try opened.source.view(named: info.name)
            #expect(got.shape == info.shape, "\(name): \(info.name)")
            #expect(try got.floats() == (try expected.view(named: info.name).floats()), "\(name): \(info.name)")
        }
        if name == "keras2-model.h5" { #expect(opened.warnings.contains { $0.contains("optimizer_weights") }) }
    }

    @Test("the malformed HDF5 corpus: errors by category naming the dataset; links are not followed but warned about")
    func malformedCorpus() throws {
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("malformed/hdf5/MANIFEST.json"))) as! [String: Any]
        let cases = manifest["cases"] as! [String: [String: Any]]
        #expect(cases.count >= 15)
        for (name, entry) in cases.sorted(by: { $0.key < $1.key }) {
            let path = Fixtures.path("malformed/hdf5/\(name)")
            let category = entry["category"] as! String
            if entry["expect"] as? String == "warning" {
                let opened = try Checkpoint.open(path)
                #expect(opened.warnings.contains { $0.contains("link") && $0.contains("not followed") }, "\(name): \(opened.warnings)")
                #expect(!opened.source.tensors.contains { $0.name == (entry["dataset"] as? String)?.split(separator: "/").joined(separator: ".") })
                continue
            }
            do {
                _ = try Checkpoint.open(path)
                Issue.record("\(name): accepted; expected \(category)")
            } catch let error as FormatError {
                guard case .hdf5(let v) = error.reason else { Issue.record("\(name): \(error)"); continue }
                #expect(v.category == category, "\(name): \(error)")
                if let dataset = entry["dataset"] as? String { #expect(error.tensor == dataset, "\(name): \(error)") }
            }
        }
    }

    @Test("a reader process that crashes (as libhdf5 may on hostile files) is a typed error, not a crash of the tool")
    func crashedReader() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let script = dir.file("crashing-worker")
        try "#!/bin/sh\nkill -SEGV $$\n".write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        #expect {
            _ = try IsolatedConversion.hdf5.convert(Fixtures.path("hdf5/flat.h5"), to: dir.file("out.safetensors"), executable: script)
        } throws: { error in
            guard let e = error as? FormatError, case .hdf5(.readerCrashed(let why)) = e.reason else { return false }
            return why.contains("signal 11")
        }
    }
}
