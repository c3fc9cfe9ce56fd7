# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before the measured run: the preflight (the server answers, takes the key, serves the model), the
server tokenizer, the dataset and the warm-up requests.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.llmfleet.serving.plugins.module_utils import _bench_dataset as dataset_mod
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_run import (
    LocalCounter,
    call_progress,
    drive,
    run_loop,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_stream import request_body
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import BenchmarkError
from ansible_collections.llmfleet.serving.plugins.module_utils._http import Client, Unreachable
from ansible_collections.llmfleet.serving.plugins.module_utils._preflight import MODELS_PATH, list_models

perf_counter = time.perf_counter
PREFLIGHT_TIMEOUT_S = 30.0
TOKENIZER_PARALLEL = 16


def server_client(cfg, timeout):
    """The request/response client for the preflight and the tokenizer (not for the measured streams)."""
    return Client(
        cfg["base_url"],
        cfg["api_key"],
        timeout,
        use_proxy=cfg["trust_env"],
        user_agent="llmfleet.serving.llm_benchmark",
    )


def preflight(cfg):
    """The server answers, takes our key and serves our model; a message naming the option otherwise."""
    url = cfg["base_url"] + MODELS_PATH
    try:
        resp, served = list_models(server_client(cfg, PREFLIGHT_TIMEOUT_S))
    except Unreachable as exc:
        if str(exc) == "timed out":
            raise BenchmarkError(
                "The server at base_url %s did not answer GET /v1/models within %g s."
                % (cfg["base_url"], PREFLIGHT_TIMEOUT_S)
            ) from exc
        raise BenchmarkError(
            "Cannot reach the server at base_url %s (%s). Is it running, listening on that address and "
            "port, and reachable from this host?" % (cfg["base_url"], exc)
        ) from exc
    status = resp.status
    if status in (401, 403):
        if cfg["api_key"]:
            raise BenchmarkError(
                "The server at %s refused api_key (HTTP %d on /v1/models): set api_key to the key the server "
                "was started with (--api-key / VLLM_API_KEY)." % (cfg["base_url"], status)
            )
        raise BenchmarkError(
            "The server at %s needs an API key (HTTP %d on /v1/models): set api_key." % (cfg["base_url"], status)
        )
    if status == 404:
        return None  # no model list on this server: requests will tell
    body = resp.body.decode("utf-8", "replace")
    if status != 200:
        raise BenchmarkError(
            "GET %s answered HTTP %d: %s. Is the server ready (its /health)?" % (url, status, body[:300])
        )
    if served is None:
        raise BenchmarkError("GET %s did not return an OpenAI model list: %s" % (url, body[:300]))
    if cfg["served_model_name"] not in served:
        raise BenchmarkError(
            "served_model_name %r is not served at %s; the server serves %s. Set served_model_name to one of "
            "them (the server's --served-model-name)." % (cfg["served_model_name"], cfg["base_url"], served)
        )
    return served


class ServerTokenizer:
    """The server's ``/tokenize`` and ``/detokenize`` (vLLM's shape), batched with bounded parallelism.

    The calls are blocking (``_http.Client``) and run in a thread pool, so the dataset builder keeps
    up to ``parallel`` of them in flight; ``close()`` ends the pool.
    """

    def __init__(self, cfg, parallel=TOKENIZER_PARALLEL):
        self.cfg = cfg
        self.client = server_client(cfg, cfg["request_timeout"])
        self.model = cfg["served_model_name"]
        self.pool = ThreadPoolExecutor(parallel, thread_name_prefix="llmfleet-tokenize")

    def close(self):
        self.pool.shutdown(wait=True)

    def _post(self, path, payload, timeout=None):
        url = self.client.url(path)
        try:
            resp = self.client.request("POST", path, payload, timeout=timeout)
        except Unreachable as exc:
            raise BenchmarkError("POST %s got no answer while building prompts: %s" % (url, exc)) from exc
        if resp.status != 200:
            raise BenchmarkError(
                "POST %s answered HTTP %d while building prompts: %s"
                % (url, resp.status, resp.body.decode("utf-8", "replace")[:300])
            )
        data = resp.json()
        if not isinstance(data, dict):
            raise BenchmarkError(
                "POST %s did not answer with a JSON object while building prompts: %s"
                % (url, resp.body.decode("utf-8", "replace")[:300])
            )
        return data

    def _encode(self, text, timeout=None):
        return self._post("/tokenize", {"model": self.model, "prompt": text, "add_special_tokens": False}, timeout)[
            "tokens"
        ]

    def _decode(self, ids, timeout=None):
        return self._post("/detokenize", {"model": self.model, "tokens": ids}, timeout)["prompt"]

    def probe(self):
        """None when every endpoint the dataset uses works (``/tokenize`` and ``/detokenize``), else why not.

        Both are tried, on a short text, because the dataset needs both: a server with /tokenize but
        no /detokenize must fall back here (use_server_tokenizer auto), not fail halfway through.
        """
        try:
            ids = self._encode("hello world", PREFLIGHT_TIMEOUT_S)
            if not isinstance(ids, list) or not ids:
                return "POST %s answered without token ids" % self.client.url("/tokenize")
            text = self._decode(ids, PREFLIGHT_TIMEOUT_S)
            if not isinstance(text, str):
                return "POST %s answered without the text (prompt)" % self.client.url("/detokenize")
        except (BenchmarkError, KeyError) as exc:
            return exc.msg if isinstance(exc, BenchmarkError) else "the answer lacks %s" % exc
        return None

    async def _batch(self, fn, items):
        loop = asyncio.get_running_loop()
        return await asyncio.gather(*[loop.run_in_executor(self.pool, fn, item) for item in items])

    async def encode_batch(self, texts):
        return await self._batch(self._encode, texts)

    async def decode_batch(self, id_lists):
        return await self._batch(self._decode, id_lists)


def server_tokenizer(cfg):
    """The server's tokenizer when use_server_tokenizer allows it and the server has one, else None."""
    mode = cfg["use_server_tokenizer"]
    if mode == "never":
        return None
    candidate = ServerTokenizer(cfg)
    why_not = candidate.probe()
    if why_not is None:
        return candidate
    candidate.close()
    if mode == "always":
        raise BenchmarkError(
            "use_server_tokenizer is 'always' but the server at %s cannot tokenize and detokenize (%s); use 'auto' "
            "to fall back to word prompts counted by usage.prompt_tokens" % (cfg["base_url"], why_not)
        )
    return None


async def build_prompts(cfg, tokenizer, progress):
    """The measured prompts and the warm-up prompts, and the dataset's description."""
    t_start = perf_counter()
    if progress:
        call_progress(progress, "dataset", 0, cfg["num_prompts"], 0.0)
    prompts, info = await dataset_mod.build_random_dataset(
        tokenizer,
        cfg["num_prompts"],
        cfg["random_input_len"],
        cfg["random_output_len"],
        cfg["random_range_ratio"],
        cfg["seed"],
        cfg["request_id_prefix"],
        cfg["vocab_size"],
        stream="prompt",
    )
    warm = []
    if cfg["num_warmups"]:
        warm = (
            await dataset_mod.build_random_dataset(
                tokenizer,
                cfg["num_warmups"],
                cfg["random_input_len"],
                cfg["random_output_len"],
                cfg["random_range_ratio"],
                cfg["seed"],
                cfg["request_id_prefix"] + "warmup-",
                cfg["vocab_size"],
                stream="warmup",
            )
        )[0]
    info["build_s"] = perf_counter() - t_start
    if progress:
        call_progress(progress, "dataset", cfg["num_prompts"], cfg["num_prompts"], info["build_s"])
    return prompts, warm, info


async def warm_up(cfg, warm, progress):
    """Send the warm-up requests (not measured); what failed among them."""
    warmup = {"requests": 0, "failed": 0, "errors": []}
    if warm:
        plan = [(p.request_id, request_body(cfg, p.prompt, p.output_len), p.prompt_len, p.output_len) for p in warm]
        slots = min(cfg["max_concurrency"] or len(plan), len(plan))
        records = (await drive(cfg, plan, LocalCounter(len(plan)), slots, perf_counter(), None))[0]
        failed = [r for r in records if not r.success]
        warmup = {
            "requests": len(records),
            "failed": len(failed),
            "errors": sorted(set(r.error.splitlines()[0][:200] for r in failed if r.error))[:5],
        }
        if progress:
            call_progress(progress, "warmup", len(records), len(records), 0.0)
    return warmup


def prepare(cfg, progress):
    """Preflight, dataset and warm-up: ``(prompts, dataset info, warm-up summary)``."""
    preflight(cfg)
    tokenizer = server_tokenizer(cfg)
    try:
        prompts, warm, info = run_loop(build_prompts(cfg, tokenizer, progress), cfg["use_uvloop"])
    finally:
        if tokenizer is not None:
            tokenizer.close()
    return prompts, info, run_loop(warm_up(cfg, warm, progress), cfg["use_uvloop"])
