"""The random dataset: exact prompt lengths through a tokenizer, seeded, no shared prefixes."""

import asyncio
import random

from ansible_collections.llmfleet.serving.plugins.module_utils import _bench_dataset as ds


class WordTokenizerDouble:
    """Test double of a server's /tokenize + /detokenize: one word = one token (the emulator's kind)."""

    def __init__(self, vocab=5000):
        self.words = ["w%d" % i for i in range(vocab)]
        self.ids = {w: i for i, w in enumerate(self.words)}
        self.calls = 0

    def _id(self, word):
        return self.ids.get(word, hash(word) % len(self.words))

    async def encode_batch(self, texts):
        self.calls += 1
        return [[self._id(w) for w in t.split()] for t in texts]

    async def decode_batch(self, id_lists):
        self.calls += 1
        return [" ".join(self.words[i] for i in ids) for ids in id_lists]


class MergingTokenizerDouble(WordTokenizerDouble):
    """Test double of a BPE tokenizer whose decode/encode is not a round trip: the pieces "ab", "a"
    and "b" decode without spaces, so [a, b] re-encodes as [ab] (GPT-2's " calls"+"here" problem)."""

    def __init__(self):
        super().__init__(vocab=3)
        self.pieces = ["a", "b", "ab", "c", "d", "e"]

    async def encode_batch(self, texts):
        out = []
        for text in texts:
            ids, i = [], 0
            while i < len(text):
                if text.startswith("ab", i):
                    ids.append(2)
                    i += 2
                else:
                    ids.append(self.pieces.index(text[i]))
                    i += 1
            out.append(ids)
        return out

    async def decode_batch(self, id_lists):
        return ["".join(self.pieces[i] for i in ids) for ids in id_lists]


def _build(tokenizer, n=20, input_len=64, output_len=16, ratio=0.0, seed=0, **kw):
    return asyncio.run(ds.build_random_dataset(tokenizer, n, input_len, output_len, ratio, seed, "p-", **kw))


def test_exact_lengths_with_the_server_tokenizer():
    tok = WordTokenizerDouble()
    prompts, info = _build(tok, n=30, input_len=100)
    assert info["prompt_len_exact"] and info["tokenizer"] == "server"
    encoded = asyncio.run(tok.encode_batch([p.prompt for p in prompts]))
    assert [len(e) for e in encoded] == [100] * 30
    assert all(p.prompt_len == 100 and p.output_len == 16 for p in prompts)
    assert [p.request_id for p in prompts[:2]] == ["p-0", "p-1"]


def test_lengths_converge_when_decode_encode_is_not_a_round_trip():
    tok = MergingTokenizerDouble()
    prompts, info = asyncio.run(ds.build_random_dataset(tok, 25, 50, 8, 0.0, 1, "p-", vocab_size=6))
    encoded = asyncio.run(tok.encode_batch([p.prompt for p in prompts]))
    assert info["length_mismatches"] == 0
    assert [len(e) for e in encoded] == [50] * 25
    assert all("ab" in p.prompt for p in prompts)  # the merge happened and was corrected for


def test_seeded_and_reproducible():
    a, dummy = _build(WordTokenizerDouble(), seed=7)
    b, dummy = _build(WordTokenizerDouble(), seed=7)
    c, dummy = _build(WordTokenizerDouble(), seed=8)
    assert [p.prompt for p in a] == [p.prompt for p in b]
    assert [p.prompt for p in a] != [p.prompt for p in c]


def test_no_two_prompts_share_a_prefix_cache_block():
    prompts, dummy = _build(WordTokenizerDouble(), n=200, input_len=64)
    first_blocks = {" ".join(p.prompt.split()[:16]) for p in prompts}
    assert len(first_blocks) == 200
    firsts = {p.prompt.split()[0] for p in prompts}
    assert len(firsts) > 150  # the very first token already differs almost always


def test_warmup_stream_differs_from_measured_prompts():
    measured, dummy = _build(WordTokenizerDouble(), n=5)
    warm, dummy = asyncio.run(ds.build_random_dataset(WordTokenizerDouble(), 5, 64, 16, 0.0, 0, "w-", stream="warmup"))
    assert not {p.prompt for p in measured} & {p.prompt for p in warm}


def test_range_ratio_bounds_like_vllm():
    rng = random.Random(0)
    ins, outs = ds.sample_lengths(rng, 2000, 1000, 100, 0.5)
    assert min(ins) >= 500 and max(ins) <= 1500 and len(set(ins)) > 100
    assert min(outs) >= 50 and max(outs) <= 150
    ins, outs = ds.sample_lengths(rng, 5, 10, 1, 0.9)
    assert min(outs) >= 1  # never zero output tokens
    assert ds.sample_lengths(rng, 3, 8192, 1024, 0.0) == ([8192] * 3, [1024] * 3)


def test_without_a_tokenizer_prompts_are_words_counted_by_the_server():
    prompts, info = _build(None, n=3, input_len=40)
    assert not info["prompt_len_exact"] and info["tokenizer"] == "none"
    assert all(len(p.prompt.split()) == 40 for p in prompts)


def test_harvested_pool_has_no_special_ids():
    class SpecialsDouble(WordTokenizerDouble):
        async def encode_batch(self, texts):
            return [[16 + self._id(w) for w in t.split()] for t in texts]  # ids < 16 are special

    pool = asyncio.run(ds.harvest_token_pool(SpecialsDouble(), 0))
    assert min(pool) >= 16 and len(pool) > 1000


def test_seed_sized_dataset_is_quick():
    import time

    start = time.perf_counter()
    prompts, dummy = _build(WordTokenizerDouble(vocab=32768), n=512, input_len=8192, output_len=1024)
    assert len(prompts) == 512 and prompts[-1].prompt_len == 8192
    assert time.perf_counter() - start < 30  # seconds, on a slow shared CI core
