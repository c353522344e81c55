import Foundation
import MM1Tensor

/// A SentencePiece model file (`tokenizer.model`, a `sentencepiece.ModelProto` protocol buffer), read strictly
/// and only as far as a GGUF export needs: every piece with its score and type, the model type, and the
/// normalizer's `add_dummy_prefix` and `remove_extra_whitespaces`. Fields mm1conv does not need are skipped by
/// their wire type; groups, truncated fields, lengths past the end, varints over 10 bytes, a piece without text, a
/// piece that is not UTF-8 or an unknown piece type are refused with a ``SentencePieceError``.
public struct SentencePieceModel: Sendable, Equatable {
    /// A piece's kind (`SentencePiece.Type`, whose numbers GGUF's `tokenizer.ggml.token_type` shares).
    public enum PieceType: Int32, Sendable, Equatable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    public struct Piece: Sendable, Equatable {
        public let text: String
        public let score: Float
        public let type: PieceType
    }

    /// `TrainerSpec.ModelType`.
    public enum ModelType: Int32, Sendable, Equatable {
        case unigram = 1, bpe = 2, word = 3, char = 4
    }

    public let pieces: [Piece]
    /// Unigram when the trainer spec does not say (protobuf's default).
    public let modelType: ModelType
    public let addDummyPrefix: Bool
    public let removeExtraWhitespaces: Bool

    /// Parses the bytes of a model file.
    public init(_ bytes: UnsafeRawBufferPointer) throws(SentencePieceError) {
        var reader = ProtoReader(bytes: bytes, start: 0, end: bytes.count)
        var pieces: [Piece] = []
        var modelType = ModelType.unigram
        var addDummyPrefix = true, removeExtraWhitespaces = true
        while let (field, wire) = try reader.key() {
            switch (field, wire) {
            case (1, 2):  // repeated SentencePiece pieces
                var piece = try reader.message()
                var text: String?, score: Float = 0, type = PieceType.normal
                while let (f, w) = try piece.key() {
                    switch (f, w) {
                    case (1, 2):
                        let raw = try piece.lengthDelimited()
                        guard let s = String(validating: raw, as: UTF8.self) else { throw .notUTF8(piece: pieces.count) }
                        text = s
                    case (2, 5): score = Float(bitPattern: try piece.fixed32())
                    case (3, 0):
                        let v = try piece.varint()
                        guard let t = PieceType(rawValue: Int32(truncatingIfNeeded: v)), v <= 6 else { throw .badValue("piece \(pieces.count) has type \(v)") }
                        type = t
                    default: try piece.skip(w)
                    }
                }
                guard let text else { throw .badValue("piece \(pieces.count) has no text") }
                pieces.append(Piece(text: text, score: score, type: type))
            case (2, 2):  // TrainerSpec: model_type = 3
                var spec = try reader.message()
                while let (f, w) = try spec.key() {
                    if f == 3, w == 0 {
                        let v = try spec.varint()
                        guard v <= 4, let t = ModelType(rawValue: Int32(v)) else { throw .badValue("model type \(v)") }
                        modelType = t
                    } else { try spec.skip(w) }
                }
            case (3, 2):  // NormalizerSpec: add_dummy_prefix = 3, remove_extra_whitespaces = 4
                var spec = try reader.message()
                while let (f, w) = try spec.key() {
                    switch (f, w) {
                    case (3, 0): addDummyPrefix = try spec.varint() != 0
                    case (4, 0): removeExtraWhitespaces = try spec.varint() != 0
                    default: try spec.skip(w)
                    }
                }
            default: try reader.skip(wire)
            }
        }
        guard !pieces.isEmpty else { throw .badValue("no pieces") }
        self.pieces = pieces
        self.modelType = modelType
        self.addDummyPrefix = addDummyPrefix
        self.removeExtraWhitespaces = removeExtraWhitespaces
    }

    /// Reads and parses the file at `path` (at most 64 MiB: real models are under 5 MiB).
    public init(path: String) throws {
        let file = try MappedFile(path: path)
        guard file.size <= 64 << 20 else { throw SentencePieceError.badValue("\(file.size) bytes, over the 64 MiB limit") }
        try self.init(file.bytes)
    }
}

/// Why a SentencePiece model file was refused.
public enum SentencePieceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A field runs past the end of its message (the file is cut short or a length is wrong).
    case truncated(String)
    /// A wire type protocol buffers do not define, or a deprecated group.
    case badWireType(Int)
    case notUTF8(piece: Int)
    case badValue(String)

    public var description: String {
        switch self {
        case .truncated(let what): "SentencePiece model is truncated: \(what)"
        case .badWireType(let w): "SentencePiece model has a field of wire type \(w) (not a protocol buffer, or groups)"
        case .notUTF8(let i): "SentencePiece piece \(i) is not UTF-8"
        case .badValue(let what): "SentencePiece model: \(what)"
        }
    }
}

/// A bounded cursor over protocol-buffer bytes.
struct ProtoReader {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let end: Int

    init(bytes: UnsafeRawBufferPointer, start: Int, end: Int) {
        self.bytes = bytes
        position = start
        self.end = end
    }

    /// The next field number and wire type, or nil at the end of the message.
    mutating func key() throws(SentencePieceError) -> (Int, Int)? {
        guard position < end else { return nil }
        let k = try varint()
        let field = k >> 3, wire = Int(k & 7)
        guard field > 0, field < 1 << 29 else { throw .badValue("field number \(field)") }
        return (Int(field), wire)
    }

    mutating func varint() throws(SentencePieceError) -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            guard position < end else { throw .truncated("a varint") }
            let b = bytes[position]
            position += 1
            guard shift < 64 else { throw .badValue("a varint longer than 10 bytes") }
            value |= UInt64(b & 0x7F) << UInt64(shift)
            if b & 0x80 == 0 { return value }
        }
        throw .badValue("a varint longer than 10 bytes")
    }

    mutating func fixed32() throws(SentencePieceError) -> UInt32 {
        guard end - position >= 4 else { throw .truncated("a 32-bit field") }
        defer { position += 4 }
        return UInt32(bytes[position]) | UInt32(bytes[position + 1]) << 8 | UInt32(bytes[position + 2]) << 16 | UInt32(bytes[position + 3]) << 24
    }

    mutating func lengthDelimited() throws(SentencePieceError) -> UnsafeRawBufferPointer {
        let length = try varint()
        guard length <= UInt64(end - position) else { throw .truncated("a field of \(length) bytes with \(end - position) left") }
        defer { position += Int(length) }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + Int(length))])
    }

    /// A nested message's reader (the bytes of a length-delimited field).
    mutating func message() throws(SentencePieceError) -> ProtoReader {
        let length = try varint()
        guard length <= UInt64(end - position) else { throw .truncated("a message of \(length) bytes with \(end - position) left") }
        defer { position += Int(length) }
        return ProtoReader(bytes: bytes, start: position, end: position + Int(length))
    }

    mutating func skip(_ wire: Int) throws(SentencePieceError) {
        switch wire {
        case 0: _ = try varint()
        case 1:
            guard end - position >= 8 else { throw .truncated("a 64-bit field") }
            position += 8
        case 2: _ = try lengthDelimited()
        case 5: _ = try fixed32()
        default: throw .badWireType(wire)
        }
    }
}
