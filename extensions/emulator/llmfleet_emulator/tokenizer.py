"""A deterministic word tokenizer and a DeepSeek-like chat template.

* One token = one whitespace-separated word. ``encode(text)`` maps each word to its id; a word
  outside the vocabulary gets a stable id from CRC-32 (so counts never depend on the vocabulary).
* Vocabulary: ``VOCAB_SIZE`` ids. Ids below ``FIRST_WORD_ID`` are special tokens (``<bos>``-like
  markers below); every other id is a lowercase six-letter word made of three consonant-vowel
  syllables. ``decode(ids)`` joins the words with single spaces, so ``encode(decode(ids))`` gives
  back the same ids and any random-token-id prompt re-encodes to exactly the same count.
* Chat template: ``<｜begin▁of▁sentence｜>`` then, per message, one role marker token followed by
  its words (an assistant message ends with ``<｜end▁of▁sentence｜>``), then the generation
  prompt ``<｜Assistant｜>``. A single user message of N words is N + 3 tokens; a system message
  adds 1 + its words. Each tool definition adds 1 + the words of its JSON. This is the overhead
  real engines put in ``usage.prompt_tokens`` beyond the user's text.
* ``/tokenize`` with a plain ``prompt`` adds ``<bos>`` when ``add_special_tokens`` is true (the
  default, as DeepSeek's tokenizer does); pass ``false`` for the bare word count.
"""

from __future__ import annotations

import json
import zlib

VOCAB_SIZE = 32768
SPECIALS = [
    "<｜begin▁of▁sentence｜>",
    "<｜end▁of▁sentence｜>",
    "<｜System｜>",
    "<｜User｜>",
    "<｜Assistant｜>",
    "<｜tool▁output▁begin｜>",
    "<｜tool▁calls▁begin｜>",
    "<think>",
    "</think>",
]
FIRST_WORD_ID = 16
BOS, EOS, SYSTEM, USER, ASSISTANT, TOOL, TOOL_CALLS = range(7)
ROLE_MARKER = {
    "system": SYSTEM,
    "developer": SYSTEM,
    "user": USER,
    "assistant": ASSISTANT,
    "tool": TOOL,
    "function": TOOL,
}

_CONSONANTS = "bdfghklmnprstvz"
_VOWELS = "aeiou"
_SYLLABLES = [c + v for c in _CONSONANTS for v in _VOWELS]  # 75
_SPACE = len(_SYLLABLES) ** 3  # 421875 = 3^3 * 5^6
_MUL = 7919  # prime, coprime with _SPACE: the map below is a bijection


def _word(i):
    n = (i * _MUL + 12345) % _SPACE
    a, rest = divmod(n, len(_SYLLABLES) ** 2)
    b, c = divmod(rest, len(_SYLLABLES))
    return _SYLLABLES[a] + _SYLLABLES[b] + _SYLLABLES[c]


VOCAB = list(SPECIALS) + ["<|reserved_%d|>" % i for i in range(len(SPECIALS), FIRST_WORD_ID)]
VOCAB += [_word(i) for i in range(VOCAB_SIZE - FIRST_WORD_ID)]
_IDS = {w: i for i, w in enumerate(VOCAB)}


def word_id(word):
    i = _IDS.get(word)
    if i is None:
        i = FIRST_WORD_ID + zlib.crc32(word.encode("utf-8")) % (VOCAB_SIZE - FIRST_WORD_ID)
    return i


def encode(text, add_special_tokens=False):
    ids = [word_id(w) for w in text.split()]
    return [BOS] + ids if add_special_tokens else ids


def count(text):
    return len(text.split())


def decode(ids):
    """Words for ids; raises ValueError for an id outside the vocabulary."""
    out = []
    for i in ids:
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < VOCAB_SIZE:
            raise ValueError("token id %r is outside the vocabulary [0, %d)" % (i, VOCAB_SIZE))
        out.append(VOCAB[i])
    return " ".join(out)


def content_text(content):
    """Text of an OpenAI/Anthropic message content: a string or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                kind = part.get("type")
                if kind in ("text", "input_text"):
                    parts.append(str(part.get("text", "")))
                elif kind == "tool_result":
                    parts.append(content_text(part.get("content")))
                elif kind == "tool_use":
                    parts.append(json.dumps(part.get("input", {})))
                elif kind == "thinking":
                    parts.append(str(part.get("thinking", "")))
        return " ".join(parts)
    raise ValueError("message content must be a string or a list of parts")


def chat_ids(messages, tools=None, system=None, add_generation_prompt=True):
    """Token ids of the rendered chat template (see module docstring)."""
    ids = [BOS]
    if system:
        ids.append(SYSTEM)
        ids.extend(encode(content_text(system)))
    for tool in tools or ():
        ids.append(TOOL_CALLS)
        ids.extend(encode(json.dumps(tool, sort_keys=True)))
    for msg in messages:
        role = msg.get("role")
        ids.append(ROLE_MARKER.get(role, USER))
        ids.extend(encode(content_text(msg.get("content"))))
        for call in msg.get("tool_calls") or ():
            fn = call.get("function", {}) if isinstance(call, dict) else {}
            ids.extend(encode("%s %s" % (fn.get("name", ""), fn.get("arguments", ""))))
        if role == "assistant":
            ids.append(EOS)
    if add_generation_prompt:
        ids.append(ASSISTANT)
    return ids


def chat_count(messages, tools=None, system=None):
    """len(chat_ids(...)) without building the list (the request hot path)."""
    n = 2  # <bos> ... <｜Assistant｜>
    if system:
        n += 1 + count(content_text(system))
    for tool in tools or ():
        n += 1 + count(json.dumps(tool, sort_keys=True))
    for msg in messages:
        n += 1 + count(content_text(msg.get("content")))
        for call in msg.get("tool_calls") or ():
            fn = call.get("function", {}) if isinstance(call, dict) else {}
            n += count("%s %s" % (fn.get("name", ""), fn.get("arguments", "")))
        if msg.get("role") == "assistant":
            n += 1
    return n
