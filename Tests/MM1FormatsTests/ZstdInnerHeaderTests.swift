import CZstd
import Foundation
@testable import MM1Formats
import MM1Tensor
import MM1TestSupport
import Testing

/// Issue 20: a zstd input is judged by the header inside as soon as its first bytes are out. The
/// `inner-*.zst` files of the malformed corpus are 32 KB frames that expand to 1 GiB of zeros behind a
/// prefix; each must be refused having written nothing, in well under a second's worth of output.
@Suite(.serialized, .timeLimit(.minutes(1))) struct ZstdInnerHeaderTests {
    nonisolated(unsafe) static let manifest: [String: [String: Any]] = {
        let url = Fixtures.url("malformed/zstd/MANIFEST.json")
        let json = (try? JSONSerialization.jsonObject(with: Data(contentsOf: url))) as? [String: Any]
        return json?["cases"] as? [String: [String: Any]] ?? [:]
    }()

    static let innerCases = manifest.keys.filter { $0.hasPrefix("inner-") }.sorted()

    /// Decompresses `path`; the error (nil when it opened) and the bytes written to the temporary file.
    static func decompress(_ path: String) -> (error: (any Error)?, written: UInt64, seconds: Double) {
        var written: UInt64 = 0
        let start = Date()
        do {
            let output = try ZstdInput.decompress(path, written: &written)
            TemporaryPaths.discard(fileIn: output)
            return (nil, written, Date().timeIntervalSince(start))
        } catch {
            return (error, written, Date().timeIntervalSince(start))
        }
    }

    @Test("the corpus holds the seven inner-header cases")
    func corpus() {
        #expect(Self.innerCases.count == 7, "\(Self.innerCases)")
    }

    @Test("each inner-header case is refused with its category before a byte is written", arguments: innerCases)
    func refusedBeforeWriting(_ name: String) throws {
        let path = Fixtures.path("malformed/zstd/\(name)")
        let (error, written, seconds) = Self.decompress(path)
        let formatError = try #require(error as? FormatError, "\(name): \(String(describing: error))")
        guard case .zstd(let v) = formatError.reason else { Issue.record("\(name): \(formatError)"); return }
        #expect(v.category == Self.manifest[name]?["category"] as? String, "\(name): \(formatError)")
        #expect(written == 0, "\(name): \(written) bytes written before the refusal")
        #expect(seconds < 5, "\(name): \(seconds) s")
    }

    @Test("a header declaring more than the free space names both sizes and TMPDIR",
          arguments: ["inner-declares-1pb.zst", "inner-gguf-declares-1pb.zst"])
    func declaredBeyondFreeSpace(_ name: String) throws {
        let (error, _, _) = Self.decompress(Fixtures.path("malformed/zstd/\(name)"))
        let text = "\(try #require(error))"
        let declared = try #require(Self.manifest[name]?["declared_bytes"] as? Int)
        #expect(text.contains("\(declared) bytes (1.0 PB)"), "\(text)")
        #expect(text.contains("free in the temporary folder") && text.contains("TMPDIR"), "\(text)")
        #expect(text.contains("nothing was written"), "\(text)")
    }

    @Test("a valid header followed by a bomb is cut at the size the header declares")
    func bombAfterValidHeader() throws {
        let (error, written, _) = Self.decompress(Fixtures.path("malformed/zstd/bomb-1gib.zst"))
        let inner = try #require(Self.manifest["bomb-1gib.zst"]?["inner_bytes"] as? Int)
        #expect(error != nil)
        #expect(written <= UInt64(inner), "\(written) bytes written; the header declares \(inner)")
    }

    /// `bytes` as one zstd frame without a content size (as a pipe writes it), compressed here with libzstd.
    static func compressedStream(_ bytes: [UInt8]) -> [UInt8] {
        let context = ZSTD_createCCtx()
        defer { ZSTD_freeCCtx(context) }
        ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 0)
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(bytes.count))
        let n = out.withUnsafeMutableBytes { o in
            bytes.withUnsafeBytes { i in ZSTD_compress2(context, o.baseAddress, o.count, i.baseAddress, i.count) }
        }
        precondition(ZSTD_isError(n) == 0)
        return Array(out.prefix(n))
    }

    /// The valid GGUF fixtures and the odd ones the malformed corpus lists as accepted.
    static let acceptedGGUF: [String] = {
        let url = Fixtures.url("malformed/gguf/MANIFEST.json")
        let accept = ((try? JSONSerialization.jsonObject(with: Data(contentsOf: url))) as? [String: Any])?["accept"] as? [String: Any] ?? [:]
        return ["gguf/metadata.gguf", "gguf/metadata-nested.gguf", "gguf/quantized-llama.gguf", "gguf/tiny-llama-f16.gguf"]
            + accept.keys.filter { $0.hasSuffix(".gguf") }.sorted().map { "malformed/gguf/\($0)" }
    }()

    @Test("every GGUF fixture, compressed, opens as it does uncompressed: the header parse on a prefix refuses nothing valid",
          arguments: acceptedGGUF)
    func validGGUF(_ relative: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let bytes = try [UInt8](Data(contentsOf: Fixtures.url(relative)))
        let path = dir.file((relative as NSString).lastPathComponent + ".zst")
        try Data(Self.compressedStream(bytes)).write(to: URL(fileURLWithPath: path))
        let opened = try Checkpoint.open(path)
        let plain = try GGUFFile(path: Fixtures.path(relative))
        #expect(opened.format == .gguf && opened.compression == .zstd && opened.formatName == "gguf+zstd")
        #expect(opened.source.tensors.map(\.name) == plain.tensors.map(\.name))
    }

    @Test("every malformed GGUF, compressed, is still refused (the reader's error or the header check's)")
    func malformedGGUF() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let root = Fixtures.path("malformed/gguf")
        let names = try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.hasSuffix(".gguf") }.sorted()
        let reject = ((try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("malformed/gguf/MANIFEST.json"))) as? [String: Any])?["reject"] as? [String: Any]) ?? [:]
        #expect(!reject.isEmpty)
        for name in names where reject[name] != nil {
            let path = dir.file(name + ".zst")
            try Data(Self.compressedStream(try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(root)/\(name)"))))).write(to: URL(fileURLWithPath: path))
            #expect(throws: FormatError.self, "\(name)") { try Checkpoint.open(path) }
        }
    }
}
