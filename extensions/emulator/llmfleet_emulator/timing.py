"""The timing model: when each request gets its first token and each later chunk.

The model is a small continuous-batching engine reduced to three shared resources:

* **slots** (``max_batch``): sequences the engine holds at once (prefilling or decoding). A request
  beyond that waits, first come first served, until a sequence finishes.
* **the prefill queue**: one prefill at a time, first come first served; a prompt of ``L`` tokens
  occupies it for ``L / prefill_tokens_per_s`` seconds. Its end is the first token (TTFT).
* **decode steps**: each decoding sequence advances one step at a time; a step takes
  ``decode_step_base_s + decode_step_per_seq_s * n`` (``n`` = sequences decoding) and yields
  ``1`` token, or under speculative decoding ``1 + Binomial(spec_tokens - 1, p)`` tokens with
  ``p`` chosen so that the mean is ``spec_accept_mean`` (each request draws its own ``p`` within
  ``+/- spec_accept_spread`` of that, as acceptance depends on the text). While a prefill runs, decode progresses at
  ``1 - prefill_stall_fraction`` of its speed (1.0 = SGLang, whose prefill batches stop decoding;
  less for vLLM, which mixes a prefill chunk into the decode step).
* **warm-up**: the first time the decode batch reaches a new power-of-two size (1, 2, 3-4, 5-8,
  ...), the engine pauses ``new_batch_bucket_jit_s`` (kernel JIT / graph capture for a new shape),
  counted like a prefill. It is why a fresh engine's first burst has a long TTFT tail (the seed's
  p99 TTFT) and a second run against the same engine does not.

Everything here is in *model seconds* and reads time through ``clock()``; the server maps model
seconds to wall seconds (``EMULATOR_TIME_SCALE``) and ``simulate.py`` runs the same generator on a
virtual clock, so the calibration and the served behaviour are one piece of code.

A request is a generator (:meth:`Engine.request`) yielding actions:
``(WAIT, t)`` resume at model time ``t``; ``(PARK, token)`` resume when ``wake(token)`` is
called; ``(EMIT, k)`` send a chunk of ``k`` tokens now.
"""

from __future__ import annotations

import bisect
import math

WAIT = 0
PARK = 1
EMIT = 2

# Prefill intervals older than this (model seconds) are forgotten; no decode gap reaches that far back.
_HORIZON_S = 600.0


class Engine:
    """Shared state of one worker's emulated engine.

    ``share`` is the number of worker processes: each worker models ``1/share`` of the engine
    (prefill rate and slots divided, decode slowdown counted as if every worker had as many
    sequences as this one), see README "Workers".
    """

    def __init__(self, params, clock, wake=None, share=1):
        self.p = params
        self.clock = clock
        self.wake = wake
        self.share = max(1, int(share))
        self.max_batch = max(1, math.ceil(params.max_batch / self.share))
        rate = params.prefill_tokens_per_s
        self._prefill_s_per_token = 0.0 if rate <= 0 or math.isinf(rate) else self.share / rate
        self.slots_used = 0
        self.parked = []  # FIFO of tokens waiting for a slot
        self.decoding = 0
        self.kv_tokens = 0
        self.prefill_busy_until = 0.0
        # Prefill busy intervals, sorted and disjoint (the queue is FIFO).
        self._starts = []
        self._ends = []
        spec = max(1, int(params.spec_tokens))
        self._spec_draws = spec - 1
        mean = min(max(params.spec_accept_mean, 1.0), float(spec))
        self._spec_p = 0.0 if spec == 1 else (mean - 1.0) / (spec - 1)
        self._stall = min(max(params.prefill_stall_fraction, 0.0), 1.0)
        self._max_bucket = 0
        self.timeless = params.is_timeless()

    # ---- bookkeeping shown in /metrics -------------------------------------------------
    @property
    def waiting(self):
        return len(self.parked)

    def kv_usage(self):
        cap = self.p.kv_capacity_tokens / self.share
        return min(1.0, self.kv_tokens / cap) if cap > 0 else 0.0

    # ---- the model ---------------------------------------------------------------------
    def _add_prefill(self, now, tokens):
        start = max(now, self.prefill_busy_until)
        end = start + tokens * self._prefill_s_per_token
        self.prefill_busy_until = end
        if end > start:
            if self._ends and self._ends[0] < now - _HORIZON_S and len(self._ends) > 256:
                cut = bisect.bisect_left(self._ends, now - _HORIZON_S)
                del self._starts[:cut]
                del self._ends[:cut]
            self._starts.append(start)
            self._ends.append(end)
        return end

    def _maybe_jit(self):
        """A batch size beyond every one seen so far (power-of-two buckets) costs a one-off pause."""
        bucket = self.decoding.bit_length()
        if bucket > self._max_bucket:
            self._max_bucket = bucket
            if self.p.new_batch_bucket_jit_s > 0:
                now = self.clock()
                start = max(now, self.prefill_busy_until)
                self.prefill_busy_until = start + self.p.new_batch_bucket_jit_s
                self._starts.append(start)
                self._ends.append(self.prefill_busy_until)

    def _decode_done_at(self, last, work):
        """When ``work`` seconds of decode compute started at ``last`` finish, given prefills."""
        cursor = last
        rest = work
        i = bisect.bisect_right(self._ends, cursor)
        keep = 1.0 - self._stall
        starts, ends = self._starts, self._ends
        while i < len(ends):
            s, e = starts[i], ends[i]
            if s > cursor:
                if rest <= s - cursor:
                    return cursor + rest
                rest -= s - cursor
                cursor = s
            if keep > 0.0:
                progress = (e - cursor) * keep
                if rest <= progress:
                    return cursor + rest / keep
                rest -= progress
            cursor = e
            i += 1
        return cursor + rest

    def _step_s(self, rng):
        p = self.p
        step = p.decode_step_base_s + p.decode_step_per_seq_s * self.decoding * self.share
        if p.step_jitter:
            step *= 1.0 + p.step_jitter * (2.0 * rng.random() - 1.0)
        return step

    def _request_accept_p(self, rng):
        """This request's draft acceptance: acceptance varies with content, so per request."""
        spread = self.p.spec_accept_spread
        if self._spec_draws == 0 or not spread:
            return self._spec_p
        p = self._spec_p * (1.0 + spread * (2.0 * rng.random() - 1.0))
        return min(max(p, 0.0), 1.0)

    def _tokens_per_step(self, rng, p):
        k = 1
        for _draw in range(self._spec_draws):
            if rng.random() < p:
                k += 1
        return k

    def request(self, prompt_tokens, completion_tokens, rng):
        """Generator of the actions serving one request (see module docstring)."""
        p = self.p
        if not self.timeless and p.ttft_overhead_s > 0:
            jitter = p.ttft_overhead_jitter * (2.0 * rng.random() - 1.0)
            yield (WAIT, self.clock() + p.ttft_overhead_s * (1.0 + jitter))
        accept_p = self._request_accept_p(rng)
        state = "queued"
        token = None
        held = 0  # KV tokens this request holds
        try:
            if self.slots_used >= self.max_batch or self.parked:
                token = object()
                self.parked.append(token)
                yield (PARK, token)  # release() hands us its slot
            else:
                self.slots_used += 1
            state = "slot"
            if self.timeless:
                self.decoding += 1
                state = "decoding"
                held = prompt_tokens
                self.kv_tokens += held
                remaining = completion_tokens
                while remaining > 0:
                    yield (WAIT, 0.0)
                    k = 1 if self._spec_draws == 0 else min(self._tokens_per_step(rng, accept_p), remaining)
                    remaining -= k
                    held += k
                    self.kv_tokens += k
                    yield (EMIT, k)
                return
            end = self._add_prefill(self.clock(), prompt_tokens)
            yield (WAIT, end)
            self.decoding += 1
            state = "decoding"
            self._maybe_jit()
            held = prompt_tokens + 1
            self.kv_tokens += held
            yield (EMIT, 1)
            remaining = completion_tokens - 1
            last = end
            while remaining > 0:
                k = min(self._tokens_per_step(rng, accept_p), remaining)
                work = self._step_s(rng)
                due = self._decode_done_at(last, work)
                while True:
                    yield (WAIT, due)
                    # Prefills admitted while we slept may overlap this step: extend it.
                    later = self._decode_done_at(last, work)
                    if later <= due:
                        break
                    due = later
                last = due
                remaining -= k
                held += k
                self.kv_tokens += k
                yield (EMIT, k)
        finally:
            if state == "queued":
                if token is not None and token in self.parked:
                    self.parked.remove(token)
            else:
                if state == "decoding":
                    self.decoding -= 1
                self.kv_tokens -= held
                self._release()

    def _release(self):
        if self.parked:
            token = self.parked.pop(0)  # the slot passes straight to the next in line
            if self.wake is not None:
                self.wake(token)
        else:
            self.slots_used -= 1
