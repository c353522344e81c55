import Foundation
import MM1Formats

/// The `tokenizer.ggml.*` section of an exported GGUF, made from the package's `tokenizer/tokenizer.json`
/// (Hugging Face `tokenizers`), as llama.cpp's convert_hf_to_gguf.py writes it for byte-level BPE
/// tokenizers (GPT-2 style): `model = gpt2`, `pre = gpt-2`, tokens in id order (padded to the model's
/// vocabulary), token types (1 normal, 3 control for special added tokens, 4 user-defined for other
/// added ones, 5 unused for padding), merges, and the BOS/EOS ids of `tokenizer_config.json`. Other
/// tokenizers (SentencePiece, WordPiece, …) are not converted: `model = none`, and the note says why.
enum GGUFTokenizer {
    /// The keys and a note on what was written.
    static func metadata(_ package: MM1Package, vocabSize: Int) -> (keys: [(key: String, value: GGUFValue)], note: String) {
        let none: [(key: String, value: GGUFValue)] = [("tokenizer.ggml.model", .string("none"))]
        let path = "\(package.path)/\(TokenizerFiles.folder)/tokenizer.json"
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
        let config = FileManager.default.contents(atPath: "\(package.path)/\(TokenizerFiles.folder)/tokenizer_config.json")
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        func tokenID(_ field: String) -> Int? {
            let value = config[field]
            let content = (value as? String) ?? ((value as? [String: Any])?["content"] as? String)
            return content.flatMap { ids[$0] }
        }
        if let bos = tokenID("bos_token") { keys.append(("tokenizer.ggml.bos_token_id", .uint32(UInt32(bos)))) }
        if let eos = tokenID("eos_token") { keys.append(("tokenizer.ggml.eos_token_id", .uint32(UInt32(eos)))) }
        if let pad = tokenID("pad_token") { keys.append(("tokenizer.ggml.padding_token_id", .uint32(UInt32(pad)))) }
        keys.append(("tokenizer.ggml.add_bos_token", .bool(config["add_bos_token"] as? Bool ?? false)))
        let note = "tokenizer: byte-level BPE from tokenizer/tokenizer.json, \(vocab.count) tokens and \(merges.count) merges"
            + (padded.isEmpty ? "" : ", \(padded.count) unused ids padded to the model's \(vocabSize)")
        return (keys, note)
    }

    /// Whether a `pre_tokenizer` entry is ByteLevel, alone or inside a Sequence.
    static func isByteLevel(_ pre: Any?) -> Bool {
        guard let pre = pre as? [String: Any] else { return false }
        if pre["type"] as? String == "ByteLevel" { return true }
        return (pre["pretokenizers"] as? [Any] ?? []).contains { isByteLevel($0) }
    }
}
