import Foundation
import MM1Formats
import MM1PackageFormat

/// The `tokenizer.ggml.*` section of an exported GGUF, made from the package's `tokenizer/tokenizer.json`
/// (Hugging Face `tokenizers`), as llama.cpp's convert_hf_to_gguf.py writes it for byte-level BPE
/// tokenizers (GPT-2 style): `model = gpt2`, `pre = gpt-2`, tokens in id order (padded to the model's
/// vocabulary), token types (1 normal, 3 control for special added tokens, 4 user-defined for other
/// added ones, 5 unused for padding), merges, and the BOS/EOS ids of `tokenizer_config.json`. A SentencePiece
/// BPE model (`tokenizer.model`, LLaMA's kind) comes first, as convert_hf_to_gguf.py prefers it: `model = llama`,
/// its pieces, scores and types. Other tokenizers (unigram SentencePiece, WordPiece, …) are not converted:
/// `model = none`, and the note says why.
enum GGUFTokenizer {
    static let none: [(key: String, value: GGUFValue)] = [("tokenizer.ggml.model", .string("none"))]

    /// The keys and a note on what was written.
    static func metadata(_ package: MM1Package, vocabSize: Int) -> (keys: [(key: String, value: GGUFValue)], note: String) {
        let folder = "\(package.path)/\(TokenizerFiles.folder)"
        let config = FileManager.default.contents(atPath: "\(folder)/tokenizer_config.json")
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        if package.manifest.files?["\(TokenizerFiles.folder)/tokenizer.model"] != nil {
            return sentencePiece("\(folder)/tokenizer.model", config: config, vocabSize: vocabSize)
        }
        let path = "\(folder)/tokenizer.json"
        guard package.manifest.files?["\(TokenizerFiles.folder)/tokenizer.json"] != nil,
              let data = FileManager.default.contents(atPath: path) else {
            return (none, "no tokenizer in the package: tokenizer.ggml.model = none (llama.cpp takes token ids only)")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let model = json["model"] as? [String: Any], let vocab = model["vocab"] as? [String: Int] else {
            return (none, "tokenizer/tokenizer.json is not a tokenizers file with a vocabulary: tokenizer.ggml.model = none")
        }
        let type = model["type"] as? String ?? "?"
        guard type == "BPE", Self.isByteLevel(json["pre_tokenizer"]) else {
            return (none, "a \(type) tokenizer without a byte-level pre-tokenizer is not converted (only GPT-2-style byte-level BPE is): tokenizer.ggml.model = none")
        }
        var tokens = [String?](repeating: nil, count: vocabSize)
        var types = [Int32](repeating: 5, count: vocabSize)
        var ids: [String: Int] = [:]
        func place(_ token: String, _ id: Int, _ kind: Int32) -> Bool {
            guard id >= 0, id < vocabSize else { return false }
            tokens[id] = token
            types[id] = kind
            ids[token] = id
            return true
        }
        for (token, id) in vocab where !place(token, id, 1) {
            return (none, "the tokenizer's id \(id) is outside the model's vocabulary of \(vocabSize): tokenizer.ggml.model = none")
        }
        for added in json["added_tokens"] as? [[String: Any]] ?? [] {
            guard let id = added["id"] as? Int, let content = added["content"] as? String else { continue }
            guard place(content, id, (added["special"] as? Bool ?? false) ? 3 : 4) else {
                return (none, "added token \(id) is outside the model's vocabulary of \(vocabSize): tokenizer.ggml.model = none")
            }
        }
        let padded = tokens.indices.filter { tokens[$0] == nil }
        let strings = tokens.enumerated().map { $0.element ?? "[PAD\($0.offset)]" }
        let merges: [String] = (model["merges"] as? [Any] ?? []).compactMap { m in
            if let s = m as? String { return s }
            if let pair = m as? [String], pair.count == 2 { return pair.joined(separator: " ") }
            return nil
        }
        var keys: [(key: String, value: GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("gpt-2")),
            ("tokenizer.ggml.tokens", .array(elementType: 8, strings.map { .string($0) })),
            ("tokenizer.ggml.token_type", .array(elementType: 5, types.map { .int32($0) })),
            ("tokenizer.ggml.merges", .array(elementType: 8, merges.map { .string($0) })),
        ]
        keys += specialTokens(config, ids: ids, addBOS: false)
        let note = "tokenizer: byte-level BPE from tokenizer/tokenizer.json, \(vocab.count) tokens and \(merges.count) merges"
            + (padded.isEmpty ? "" : ", \(padded.count) unused ids padded to the model's \(vocabSize)")
        return (keys, note)
    }

    /// The BOS/EOS/UNK/padding ids named by `tokenizer_config.json` (a string or `{"content": …}`) and whether
    /// to add BOS (`addBOS` when the config does not say).
    static func specialTokens(_ config: [String: Any], ids: [String: Int], addBOS: Bool) -> [(key: String, value: GGUFValue)] {
        var keys: [(key: String, value: GGUFValue)] = []
        for (field, key) in [("bos_token", "bos_token_id"), ("eos_token", "eos_token_id"), ("unk_token", "unknown_token_id"), ("pad_token", "padding_token_id")] {
            let value = config[field]
            let content = (value as? String) ?? ((value as? [String: Any])?["content"] as? String)
            if let id = content.flatMap({ ids[$0] }) { keys.append(("tokenizer.ggml.\(key)", .uint32(UInt32(id)))) }
        }
        keys.append(("tokenizer.ggml.add_bos_token", .bool(config["add_bos_token"] as? Bool ?? addBOS)))
        return keys
    }

    /// A SentencePiece BPE model as convert_hf_to_gguf.py's `_set_vocab_sentencepiece` writes it: pieces, scores
    /// and types in id order, padded (`[PADi]`, unused) to the model's vocabulary; added tokens of
    /// `tokenizer_config.json` beyond the pieces; the normalizer's dummy prefix as `add_space_prefix`.
    static func sentencePiece(_ path: String, config: [String: Any], vocabSize: Int) -> (keys: [(key: String, value: GGUFValue)], note: String) {
        let model: SentencePieceModel
        do { model = try SentencePieceModel(path: path) } catch {
            return (none, "tokenizer/tokenizer.model cannot be read (\(error)): tokenizer.ggml.model = none")
        }
        guard model.modelType == .bpe else {
            return (none, "a \(model.modelType) SentencePiece model is not converted (llama.cpp's SentencePiece tokenizer merges as BPE does): tokenizer.ggml.model = none")
        }
        guard model.pieces.count <= vocabSize else {
            return (none, "the tokenizer's \(model.pieces.count) pieces exceed the model's vocabulary of \(vocabSize): tokenizer.ggml.model = none")
        }
        var tokens = model.pieces.map(\.text), scores = model.pieces.map(\.score), types = model.pieces.map(\.type.rawValue)
        tokens += (tokens.count..<vocabSize).map { "[PAD\($0)]" }
        scores += [Float](repeating: -1000, count: vocabSize - scores.count)
        types += [Int32](repeating: SentencePieceModel.PieceType.unused.rawValue, count: vocabSize - types.count)
        var added = 0
        for (key, value) in config["added_tokens_decoder"] as? [String: [String: Any]] ?? [:] {
            guard let id = Int(key), id >= model.pieces.count, id < vocabSize, let content = value["content"] as? String else { continue }
            tokens[id] = content
            types[id] = (value["special"] as? Bool ?? false) ? SentencePieceModel.PieceType.control.rawValue : SentencePieceModel.PieceType.userDefined.rawValue
            added += 1
        }
        var ids: [String: Int] = [:]
        for (id, token) in tokens.enumerated() where ids[token] == nil { ids[token] = id }
        var keys: [(key: String, value: GGUFValue)] = [
            ("tokenizer.ggml.model", .string("llama")),
            ("tokenizer.ggml.pre", .string("default")),
            ("tokenizer.ggml.tokens", .array(elementType: 8, tokens.map { .string($0) })),
            ("tokenizer.ggml.scores", .array(elementType: 6, scores.map { .float32($0) })),
            ("tokenizer.ggml.token_type", .array(elementType: 5, types.map { .int32($0) })),
            ("tokenizer.ggml.add_space_prefix", .bool(model.addDummyPrefix)),
        ]
        if let unk = model.pieces.firstIndex(where: { $0.type == .unknown }), config["unk_token"] == nil {
            keys.append(("tokenizer.ggml.unknown_token_id", .uint32(UInt32(unk))))
        }
        keys += specialTokens(config, ids: ids, addBOS: true)
        var note = "tokenizer: SentencePiece BPE from tokenizer/tokenizer.model, \(model.pieces.count) pieces"
            + (added > 0 ? " and \(added) added tokens" : "")
            + (model.pieces.count + added < vocabSize ? ", \(vocabSize - model.pieces.count - added) unused ids padded to the model's \(vocabSize)" : "")
        if model.removeExtraWhitespaces {
            note += "; its normalizer removes extra whitespace, which llama.cpp does not: text with repeated or edge spaces tokenizes differently there"
        }
        return (keys, note)
    }

    /// Whether a `pre_tokenizer` entry is ByteLevel, alone or inside a Sequence.
    static func isByteLevel(_ pre: Any?) -> Bool {
        guard let pre = pre as? [String: Any] else { return false }
        if pre["type"] as? String == "ByteLevel" { return true }
        return (pre["pretokenizers"] as? [Any] ?? []).contains { isByteLevel($0) }
    }
}
