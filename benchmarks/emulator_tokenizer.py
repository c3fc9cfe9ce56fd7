"""Write a Hugging Face tokenizer directory whose vocabulary is the emulator's (for vllm bench serve).

vLLM's random dataset draws token ids from a local tokenizer, decodes and re-encodes them. The
emulator's tokenizer (extensions/emulator/llmfleet_emulator/tokenizer.py) is one word per token over a
fixed vocabulary; a `tokenizers` WordLevel model over the same words, split on whitespace and joined
with spaces, counts every prompt exactly as the emulator does, so vLLM's prompts have the requested
length on the server too. The special and reserved ids are declared special, so vLLM leaves them out.

Run with the vLLM venv's Python (it has `tokenizers`):
    PYTHONPATH=extensions/emulator .build/vllm-venv/bin/python benchmarks/emulator_tokenizer.py OUT_DIR
"""

from __future__ import annotations

import json
import os
import sys

from llmfleet_emulator import tokenizer as emu
from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers


def build(out_dir):
    vocab = {word: i for i, word in enumerate(emu.VOCAB)}
    specials = emu.VOCAB[: emu.FIRST_WORD_ID]
    unk = specials[-1]  # a reserved id: never produced by the word vocabulary
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    os.makedirs(out_dir, exist_ok=True)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": specials[emu.BOS],
        "eos_token": specials[emu.EOS],
        "unk_token": unk,
        "additional_special_tokens": [s for s in specials if s not in (specials[emu.BOS], specials[emu.EOS], unk)],
        "model_max_length": 1048576,
        "clean_up_tokenization_spaces": False,
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as handle:
        json.dump(config, handle, ensure_ascii=False, indent=1)
    # a minimal model config, so tools that look for one find the tokenizer's model
    with open(os.path.join(out_dir, "config.json"), "w", encoding="utf-8") as handle:
        json.dump({"model_type": "llama", "vocab_size": emu.VOCAB_SIZE}, handle)
    check = Tokenizer.from_file(os.path.join(out_dir, "tokenizer.json"))
    ids = list(range(emu.FIRST_WORD_ID, emu.FIRST_WORD_ID + 50))
    text = check.decode(ids)
    assert emu.encode(text) == ids == check.encode(text).ids, "the tokenizer does not match the emulator's"
    return out_dir


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else ".build/emulator-tokenizer"))
