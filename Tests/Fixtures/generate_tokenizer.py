#!/usr/bin/env python3
"""Two small tokenizers trained on a fixed text, for the GGUF export's tokenizer section:

- a byte-level BPE tokenizer (GPT-2 style) by the Hugging Face `tokenizers` library: Tests/Fixtures/tokenizer/
  tokenizer.json (320 tokens: 256 byte symbols, 62 merges, <s> and </s>), tokenizer_config.json, and expected.json
  (the ids `tokenizers` gives for a few strings, which llama.cpp must reproduce from the exported GGUF);
- a SentencePiece BPE model (LLaMA's kind: byte fallback, identity normalization, extra whitespace kept) by the
  `sentencepiece` library: Tests/Fixtures/tokenizer-spm/tokenizer.model (320 pieces: <unk>, <s>, </s>, 256 byte
  pieces, the rest characters and merges), tokenizer_config.json, expected.json (sentencepiece's ids for the same
  strings) and pieces.json (every piece, score and type, and the normalizer flags, as sentencepiece reads them).

Deterministic: /opt/mm1py/bin/python Tests/Fixtures/generate_tokenizer.py
"""
import json
import os

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tokenizer")
os.makedirs(HERE, exist_ok=True)
TEXT = ("The quick brown fox jumps over the lazy dog. " * 20 + "MM1 converts vision and language weights; "
        "the connector pools image tokens. " * 20 + "Pack my box with five dozen liquor jugs! 12345 67890 " * 10).split(". ")
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                              show_progress=False)
tok.train_from_iterator(TEXT, trainer=trainer)
assert tok.get_vocab_size() == 320, tok.get_vocab_size()
tok.save(os.path.join(HERE, "tokenizer.json"), pretty=True)
json.dump({"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": False, "model_max_length": 4096,
           "tokenizer_class": "PreTrainedTokenizerFast"}, open(os.path.join(HERE, "tokenizer_config.json"), "w"), indent=2)
samples = ["The quick brown fox", "MM1 converts vision and language weights", "Pack my box with 12345 jugs!", " leading space", "naïve café ☕"]
json.dump({s: tok.encode(s).ids for s in samples}, open(os.path.join(HERE, "expected.json"), "w"), indent=2, ensure_ascii=False)
print("vocab", tok.get_vocab_size(), {s: len(tok.encode(s).ids) for s in samples})


# SentencePiece BPE, as LLaMA's tokenizer.model is made (one thread: deterministic).
import io  # noqa: E402

import sentencepiece as spm  # noqa: E402

SPM = os.path.join(os.path.dirname(HERE), "tokenizer-spm")
os.makedirs(SPM, exist_ok=True)
model = io.BytesIO()
spm.SentencePieceTrainer.train(sentence_iterator=iter(TEXT), model_writer=model, vocab_size=320, model_type="bpe",
                               byte_fallback=True, character_coverage=1.0, normalization_rule_name="identity",
                               remove_extra_whitespaces=False, num_threads=1, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
                               minloglevel=2)
open(os.path.join(SPM, "tokenizer.model"), "wb").write(model.getvalue())
sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
assert sp.vocab_size() == 320, sp.vocab_size()
json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": False, "model_max_length": 4096,
           "tokenizer_class": "LlamaTokenizer"}, open(os.path.join(SPM, "tokenizer_config.json"), "w"), indent=2)
json.dump({s: sp.encode(s) for s in samples}, open(os.path.join(SPM, "expected.json"), "w"), indent=2, ensure_ascii=False)
from sentencepiece import sentencepiece_model_pb2 as pb  # noqa: E402
proto = pb.ModelProto()
proto.ParseFromString(model.getvalue())
kinds = {1: "normal", 2: "unknown", 3: "control", 4: "user_defined", 5: "unused", 6: "byte"}
json.dump({"model_type": "bpe", "add_dummy_prefix": proto.normalizer_spec.add_dummy_prefix,
           "remove_extra_whitespaces": proto.normalizer_spec.remove_extra_whitespaces,
           "pieces": [[p.piece, p.score, kinds[p.type]] for p in proto.pieces]},
          open(os.path.join(SPM, "pieces.json"), "w"), indent=1, ensure_ascii=False)
print("sentencepiece", sp.vocab_size(), {s: len(sp.encode(s)) for s in samples})
