import Foundation
import MM1Formats
import MM1TestSupport
import Testing

/// The SentencePiece model reader against what the sentencepiece library reads from the same file
/// (Tests/Fixtures/tokenizer-spm, made by generate_tokenizer.py), and on damaged files.
@Suite struct SentencePieceModelTests {
    @Test("every piece, score and type, the model type and the normalizer flags, as sentencepiece reads them")
    func matchesSentencePiece() throws {
        let model = try SentencePieceModel(path: Fixtures.path("tokenizer-spm/tokenizer.model"))
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("tokenizer-spm/pieces.json"))) as! [String: Any]
        let pieces = golden["pieces"] as! [[Any]]
        let kinds: [String: SentencePieceModel.PieceType] = ["normal": .normal, "unknown": .unknown, "control": .control,
                                                             "user_defined": .userDefined, "unused": .unused, "byte": .byte]
        #expect(model.pieces.count == pieces.count)
        for (piece, want) in zip(model.pieces, pieces) {
            #expect(piece.text == want[0] as? String)
            #expect(piece.score == Float((want[1] as! NSNumber).doubleValue))
            #expect(piece.type == kinds[want[2] as! String])
        }
        #expect(model.modelType == .bpe)
        #expect(model.addDummyPrefix == golden["add_dummy_prefix"] as? Bool)
        #expect(model.removeExtraWhitespaces == golden["remove_extra_whitespaces"] as? Bool)
    }

    static func parse(_ bytes: [UInt8]) throws(SentencePieceError) -> SentencePieceModel {
        var result: Result<SentencePieceModel, SentencePieceError>!
        bytes.withUnsafeBytes { raw in
            do throws(SentencePieceError) { result = .success(try SentencePieceModel(raw)) } catch { result = .failure(error) }
        }
        return try result.get()
    }

    @Test("damaged files: every cut of the real model, groups, lengths past the end, endless varints, bad UTF-8, no pieces")
    func damaged() throws {
        let whole = try [UInt8](Data(contentsOf: Fixtures.url("tokenizer-spm/tokenizer.model")))
        // Cut anywhere: a typed error or (cut between whole pieces of the top-level message) fewer pieces; never a crash.
        var refused = 0
        for cut in stride(from: 0, to: whole.count, by: 7) {
            do { _ = try Self.parse(Array(whole[0..<cut])) } catch { refused += 1 }
        }
        #expect(refused > whole.count / 7 / 2)
        #expect(throws: SentencePieceError.badWireType(3)) { try Self.parse([0x0B, 0x00]) }
        #expect(throws: SentencePieceError.truncated("a message of 100 bytes with 1 left")) { try Self.parse([0x0A, 100, 0x00]) }
        #expect(throws: SentencePieceError.self) { try Self.parse([0x08] + [UInt8](repeating: 0xFF, count: 12)) }
        #expect(throws: SentencePieceError.notUTF8(piece: 0)) { try Self.parse([0x0A, 0x03, 0x0A, 0x01, 0xFF]) }
        #expect(throws: SentencePieceError.badValue("no pieces")) { try Self.parse([]) }
        #expect(throws: SentencePieceError.badValue("piece 0 has type 9")) { try Self.parse([0x0A, 0x05, 0x0A, 0x01, 0x61, 0x18, 0x09]) }
    }
}
