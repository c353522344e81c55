import Foundation
import MM1Formats
import MM1Tensor
import MM1TestSupport
import Testing

/// zstd-compressed inputs (Tests/Fixtures/zstd, made with the `zstandard` package by generate_zstd.py):
/// every framing decompresses to the same tensors as the uncompressed sample; every damaged file is a
/// typed error; nothing is left in the temporary folder.
@Suite(.serialized) struct ZstdTests {
    static func leftovers() -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())) ?? []).filter { $0.hasPrefix("mm1conv-zstd-") })
    }

    /// The decompression folders made since `before` that are still there after up to 10 s: other suites run
    /// in parallel and decompress too (in this process and in `mm1conv` children), so a folder that goes away
    /// shortly was theirs, in use; one that stays was left behind.
    static func leftBehind(since before: Set<String>) -> Set<String> {
        var remaining = leftovers().subtracting(before)
        for _ in 0..<100 where !remaining.isEmpty {
            Thread.sleep(forTimeInterval: 0.1)
            remaining.formIntersection(leftovers())
        }
        return remaining
    }

    /// Every tensor of `source` equals the one of the same name in `reference`, byte for byte.
    static func sameTensors(_ source: any TensorSource, _ reference: any TensorSource) throws {
        #expect(source.tensors.map(\.name).sorted() == reference.tensors.map(\.name).sorted())
        for info in reference.tensors {
            let a = try source.view(named: info.name), b = try reference.view(named: info.name)
            #expect(a.dtype == b.dtype && a.shape == b.shape, "\(info.name)")
            #expect(a.withUnsafeBytes { Array($0) } == b.withUnsafeBytes { Array($0) }, "\(info.name)")
        }
    }

    @Test("every framing (one frame, no .zst name, two frames, no content size, a skippable frame first) reads as the sample",
          arguments: ["tiny-mm1/tiny-mm1.safetensors.zst", "tiny-llama/model.bin", "tiny-llama/model.multiframe.safetensors.zst",
                      "tiny-llama/model.streamed.safetensors.zst", "tiny-llama/model.skippable.safetensors.zst"])
    func validFramings(_ name: String) throws {
        let before = Self.leftovers()
        let opened = try Checkpoint.open(Fixtures.path("zstd/\(name)"))
        #expect(opened.format == .safetensors && opened.compression == .zstd && opened.formatName == "safetensors+zstd" && opened.files == [Fixtures.path("zstd/\(name)")])
        #expect(opened.displayName == Fixtures.path("zstd/\(name)"))
        let sample = Fixtures.root.appendingPathComponent(name.hasPrefix("tiny-mm1") ? "Samples/tiny-mm1" : "Samples/tiny-llama").path
        try Self.sameTensors(opened.source, try SafetensorsCheckpoint(path: sample))
        #expect(Self.leftBehind(since: before).isEmpty, "the decompressed copy is unlinked once open")
    }

    @Test("the malformed zstd corpus: each file is refused with its category, naming the file, leaving nothing behind")
    func malformedCorpus() throws {
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("malformed/zstd/MANIFEST.json"))) as! [String: Any]
        let cases = manifest["cases"] as! [String: [String: Any]]
        #expect(cases.count >= 15)
        let before = Self.leftovers()
        for (name, entry) in cases.sorted(by: { $0.key < $1.key }) {
            let path = Fixtures.path("malformed/zstd/\(name)")
            do {
                _ = try Checkpoint.open(path)
                Issue.record("\(name): accepted")
            } catch let error as FormatError {
                guard case .zstd(let v) = error.reason else { Issue.record("\(name): \(error)"); continue }
                #expect(v.category == entry["category"] as! String, "\(name): \(error)")
                #expect(error.file == path)
            }
        }
        #expect(Self.leftBehind(since: before).isEmpty)
    }
}
