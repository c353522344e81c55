#!/usr/bin/env python3
"""A small byte-level BPE tokenizer (GPT-2 style) trained by the Hugging Face `tokenizers` library on a fixed
text, for the GGUF export's tokenizer section: Tests/Fixtures/tokenizer/tokenizer.json (320 tokens: 256 byte
symbols, 62 merges, <s> and </s>), tokenizer_config.json, and expected.json (the ids `tokenizers` gives for a few
strings, which llama.cpp must reproduce from the exported GGUF).

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
