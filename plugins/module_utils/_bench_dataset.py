# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The random dataset of ``vllm bench serve --dataset-name random``, against the server's tokenizer.

Standard library only. vLLM builds each prompt from token ids of its local tokenizer, decodes them,
re-encodes the text and pads or truncates until the count is exact (``gen_prompt_decode_to_target_len``,
at most 10 rounds), and newer versions align the result against the server's ``/tokenize``. We have
no local tokenizer on the controller, so the server's ``/tokenize`` and ``/detokenize`` do both jobs:
the prompt length is then exact for the tokenizer that counts it.

Differences from vLLM, on purpose:

- Each prompt's tokens come from its own seeded generator (``random.Random("<seed>:<index>")``)
  instead of vLLM's arithmetic run ``(offset + index + k) % vocab``: two prompts whose runs start
  at the same id would be identical and hit the prefix cache; independent draws practically never
  share a first cache block.
- The ids are drawn from a pool: ``range(vocab_size)`` when the caller knows the vocabulary, otherwise
  the ids the server's tokenizer gives a seeded text of common words (so no special token, whose text
  would re-encode as markup, enters a prompt).
- Without a server tokenizer, prompts are common English words, one per requested token; their real
  length is then what the server reports in ``usage.prompt_tokens`` (``prompt_len_exact`` false).

Lengths follow vLLM: with ``range_ratio`` r, input lengths are drawn uniformly from
[floor(L(1-r)), ceil(L(1+r))] and output lengths from [max(1, floor(O(1-r))), ceil(O(1+r))];
r = 0 (the default) means fixed lengths.
"""

from __future__ import annotations

import asyncio
import math
import random

MAX_RETRY = 10

# Common English words: one token each in the usual BPE vocabularies (with the leading space).
WORDS = (
    "the of and to in is was for that on as with by he at from his an were are which this be or has had "
    "not first one their its new after but who they have her she two been other when there all during into "
    "school time may years more most only over city some world would where later up such used many can "
    "state about national out known university united then made also under system part three people "
    "between both through second well while these several film family war because house since number "
    "early john won four season around same found high each until county called series game after before "
    "being work life group north south west east main music water small large light power river station "
    "under public history short long point local order place world field album around again river team "
    "club line member party road river order album story book market local head open court center name"
).split()
WORDS = tuple(dict.fromkeys(WORDS))  # without repeats, so every word is equally likely


class PromptSpec:
    """One request of the dataset."""

    __slots__ = ("index", "request_id", "prompt", "prompt_len", "output_len")

    def __init__(self, index, request_id, prompt, prompt_len, output_len):
        self.index = index
        self.request_id = request_id
        self.prompt = prompt
        self.prompt_len = prompt_len
        self.output_len = output_len

    def __repr__(self):
        return "PromptSpec(index=%d, prompt_len=%d, output_len=%d)" % (self.index, self.prompt_len, self.output_len)


def sample_lengths(rng, num, input_len, output_len, range_ratio):
    """vLLM's ``get_sampling_params`` bounds, drawn with a ``random.Random``."""
    if not 0.0 <= range_ratio < 1.0:
        raise ValueError("random_range_ratio must be in [0, 1), got %r" % (range_ratio,))
    in_low = int(math.floor(input_len * (1 - range_ratio)))
    in_high = int(math.ceil(input_len * (1 + range_ratio)))
    out_low = max(int(math.floor(output_len * (1 - range_ratio))), 1)
    out_high = max(int(math.ceil(output_len * (1 + range_ratio))), 1)
    if range_ratio == 0.0:
        return [input_len] * num, [output_len] * num
    ins = [rng.randint(in_low, in_high) for dummy in range(num)]
    outs = [rng.randint(out_low, out_high) for dummy in range(num)]
    return ins, outs


def word_text(rng, count):
    """``count`` seeded common words (the prompt when the server has no tokenizer endpoint)."""
    return " ".join(rng.choices(WORDS, k=count))


async def harvest_token_pool(tokenizer, seed, words=2000):
    """The ids the server's tokenizer gives a seeded text, sorted, without repeats.

    The text is common words plus short random letter strings: whole-word tokens and sub-word
    pieces of the vocabulary, and no special token (its text would re-encode as markup).
    """
    rng = random.Random("pool:%s" % seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    pieces = ["".join(rng.choice(letters) for dummy in range(rng.randint(3, 8))) for dummy in range(words)]
    text = " ".join(WORDS) + " " + " ".join(pieces)
    ids = (await tokenizer.encode_batch([text]))[0]
    pool = sorted(set(int(i) for i in ids))
    if len(pool) < 2:
        raise ValueError("the server's /tokenize returned %d distinct ids for %d words of text" % (len(pool), words))
    return pool


async def fit_to_length(tokenizer, sequences, targets, rngs, pool, max_retry=MAX_RETRY):
    """vLLM's ``gen_prompt_decode_to_target_len`` for many prompts at once (one batch per round).

    Returns ``[(text, token_count)]``; a count differs from its target only when ``max_retry``
    rounds did not converge (vLLM warns and keeps the prompt the same way).
    """
    n = len(sequences)
    texts = [None] * n
    counts = [None] * n
    pending = list(range(n))
    seqs = [list(s) for s in sequences]
    rounds = 0
    while pending:
        decoded = await tokenizer.decode_batch([seqs[i] for i in pending])
        encoded = await tokenizer.encode_batch(decoded)
        still = []
        for i, text, ids in zip(pending, decoded, encoded):
            texts[i] = text
            counts[i] = len(ids)
            target = targets[i]
            if len(ids) == target or rounds >= max_retry:
                continue
            if len(ids) < target:
                ids = list(ids) + rngs[i].choices(pool, k=target - len(ids))
            else:
                ids = list(ids[:target])
            seqs[i] = ids
            still.append(i)
        pending = still
        rounds += 1
    return list(zip(texts, counts))


async def build_random_dataset(
    tokenizer,
    num_prompts,
    input_len,
    output_len,
    range_ratio=0.0,
    seed=0,
    request_id_prefix="llmfleet-bench-",
    vocab_size=None,
    stream="prompt",
):
    """``num_prompts`` ``PromptSpec`` with exact prompt lengths for ``tokenizer``.

    ``tokenizer``: an object with ``async encode_batch(texts) -> [[ids]]`` and
    ``async decode_batch([[ids]]) -> [texts]`` (the server's ``/tokenize`` and ``/detokenize``),
    or None when the server has none (word prompts, length checked against ``usage.prompt_tokens``).
    ``stream`` separates independent prompt sets drawn from one seed (the warm-up prompts use
    another stream, so they never share a prefix with a measured prompt).
    Returns ``(prompts, info)`` where ``info`` describes how the prompts were made.
    """
    rng = random.Random("%s:lengths:%s" % (stream, seed))
    in_lens, out_lens = sample_lengths(rng, num_prompts, input_len, output_len, range_ratio)
    rngs = [random.Random("%s:%s:%d" % (stream, seed, i)) for i in range(num_prompts)]
    info = {
        "dataset": "random",
        "seed": seed,
        "range_ratio": range_ratio,
        "tokenizer": "none",
        "prompt_len_exact": False,
        "token_pool": None,
        "length_mismatches": 0,
    }
    if tokenizer is None:
        texts = [word_text(rngs[i], in_lens[i]) for i in range(num_prompts)]
        prompts = [
            PromptSpec(i, request_id_prefix + str(i), texts[i], in_lens[i], out_lens[i]) for i in range(num_prompts)
        ]
        return prompts, info
    if vocab_size:
        pool = list(range(int(vocab_size)))
        info["token_pool"] = "vocab_size %d" % int(vocab_size)
    else:
        pool = await harvest_token_pool(tokenizer, seed)
        info["token_pool"] = "%d ids from the server's tokenizer" % len(pool)
    sequences = [rngs[i].choices(pool, k=in_lens[i]) for i in range(num_prompts)]
    fitted = await fit_to_length(tokenizer, sequences, in_lens, rngs, pool)
    prompts = []
    mismatches = 0
    for i, (text, count) in enumerate(fitted):
        if count != in_lens[i]:
            mismatches += 1
        # as vLLM: the prompt length is the final encoded length
        prompts.append(PromptSpec(i, request_id_prefix + str(i), text, count, out_lens[i]))
    info.update({"tokenizer": "server", "prompt_len_exact": True, "length_mismatches": mismatches})
    return prompts, info


def run_sync(coro):
    """Run a coroutine to completion (for callers without an event loop, such as tests)."""
    return asyncio.run(coro)
