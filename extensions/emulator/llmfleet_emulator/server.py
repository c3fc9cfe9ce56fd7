"""The HTTP side: an aiohttp application that answers like vLLM / SGLang.

Works with aiohttp 3.8 (Debian bookworm's python3-aiohttp) and newer: no AppKey, no
``handler_cancellation``; handlers are bound methods of :class:`Emulator`, which holds all state.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import random
import time
import uuid
import zlib

from aiohttp import web

from . import generation, sse, tokenizer
from .generation import RequestError
from .metrics import Metrics
from .timing import EMIT, WAIT, Engine
from .trace import TraceWriter
from .waker import Waker

SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
_DUMPS = json.dumps


def _error_body(err):
    return {"error": {"message": str(err), "type": err.kind, "param": err.param, "code": err.status}}


def _anthropic_error_body(err):
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        500: "api_error",
        503: "overloaded_error",
    }.get(err.status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": str(err)}}


# The requests a graceful shutdown lets finish (and refuses while draining).
GENERATION_PATHS = frozenset(["/v1/chat/completions", "/v1/completions", "/v1/messages"])


class _Counters:
    """What one request saw, for the trace and the metrics."""

    __slots__ = ("wall", "mono", "tokens", "sent", "first_mono", "late")

    def __init__(self):
        self.late = None
        self.wall = []
        self.mono = []
        self.tokens = []
        self.sent = 0
        self.first_mono = None


class Emulator:
    def __init__(
        self, spec, settings, params, preset_reason, worker=0, workers=1, logger=None, hf_token_from_file=False
    ):
        self.spec = spec
        self.settings = settings
        self.params = params
        self.preset_reason = preset_reason
        self.worker = worker
        self.workers = workers
        self.log = logger or (lambda *a, **k: None)
        self.hf_token_from_file = hf_token_from_file
        self.scale = settings.time_scale
        self.t0 = time.monotonic()
        self.parked = {}
        self.engine = Engine(params, clock=self.model_now, wake=self._wake, share=workers)
        self.metrics = Metrics(spec.served_name, spec.engine)
        self.trace = TraceWriter(settings.trace_file) if settings.trace_file else None
        self.faults = settings.faults
        self.fault_rng = random.Random(settings.seed * 7919 + worker)
        self.request_index = 0
        self.max_lateness = 0.0
        self.waker = None
        self.completed = 0
        self.dead = False
        self.warming = settings.warmup_seconds > 0
        self.shutting_down = False
        # SIGTERM with a graceful drain (vLLM --shutdown-timeout N > 0, SGLang always): new generation
        # requests are refused with 503 while the running ones finish (launcher._serve waits for them).
        self.draining = False
        self.generating = set()
        self.cluster = None  # a multi-node head's rendezvous (cluster.Cluster); set by the launcher
        self.tasks = set()
        self.keys = [k.encode() for k in spec.api_keys]
        self.created = int(time.time())
        self.served = set(spec.served_names)

    # ---- time ----------------------------------------------------------------------------
    def model_now(self):
        return (time.monotonic() - self.t0) * self.scale

    def _wake(self, token):
        fut = self.parked.pop(token, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def drive(self, gen, on_emit):
        """Run a timing-model generator in real time, calling ``on_emit(k)`` for each chunk.

        Returns the largest lateness (wall seconds) of a wake-up against the model's schedule:
        the emulator's own check that it kept up (an overloaded event loop sends late).
        """
        t0, scale, mono, sleep = self.t0, self.scale, time.monotonic, asyncio.sleep
        if self.waker is None:
            self.waker = Waker(asyncio.get_running_loop())
        wait_until = self.waker.wait_until
        send = gen.send
        late = 0.0
        try:
            action = next(gen)
            while True:
                kind, value = action
                if kind == EMIT:
                    await on_emit(value)
                elif kind == WAIT:
                    due = t0 + value / scale
                    delay = due - mono()
                    if delay <= 0:
                        await sleep(0)
                    else:
                        await wait_until(due)
                        delay = due - mono()
                    lag = -delay
                    if lag > late:
                        late = lag
                else:  # PARK: wait for a slot
                    fut = asyncio.get_running_loop().create_future()
                    self.parked[value] = fut
                    await fut
                action = send(None)
        except StopIteration:
            pass
        finally:
            gen.close()
            if late > self.max_lateness:
                self.max_lateness = late
        return late

    # ---- app -----------------------------------------------------------------------------
    def make_app(self):
        app = web.Application(middlewares=[self._middleware], client_max_size=256 * 1024 * 1024)
        r = app.router
        r.add_get("/health", self.health)
        r.add_get("/ping", self.health)
        r.add_get("/version", self.version)
        r.add_get("/v1/models", self.models)
        r.add_post("/v1/chat/completions", self.chat)
        r.add_post("/v1/completions", self.completions)
        r.add_post("/v1/messages", self.messages)
        r.add_post("/tokenize", self.tokenize)
        if not self.faults.no_detokenize:  # a server that tokenizes but cannot detokenize: 404, as unrouted
            r.add_post("/detokenize", self.detokenize)
        r.add_get("/metrics", self.metrics_page)
        if self.spec.engine == "sglang":
            r.add_get("/health_generate", self.health_generate)
            r.add_get("/get_model_info", self.model_info)
            r.add_get("/model_info", self.model_info)
            r.add_get("/server_info", self.server_info)
            r.add_get("/get_server_info", self.server_info)
        return app

    def _needs_key(self, path):
        if not self.keys:
            return False
        if self.spec.engine == "vllm":
            return path.startswith("/v1")
        return not (path.startswith(("/health", "/metrics")))

    def _key_ok(self, request):
        offered = []
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            offered.append(auth[7:].strip())
        if request.path == "/v1/messages" and "x-api-key" in request.headers:
            offered.append(request.headers["x-api-key"].strip())
        for candidate in offered:
            raw = candidate.encode()
            if any(hmac.compare_digest(raw, key) for key in self.keys):
                return True
        return False

    @web.middleware
    async def _middleware(self, request, handler):
        if request.method != "OPTIONS" and self._needs_key(request.path) and not self._key_ok(request):
            err = RequestError(
                401,
                "Unauthorized: a valid API key is required (Authorization: Bearer <key>)",
                kind="AuthenticationError",
            )
            return web.json_response(_error_body(err), status=401)
        task = asyncio.current_task()
        self.tasks.add(task)
        if request.method == "POST" and request.path in GENERATION_PATHS:
            self.generating.add(task)
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return web.json_response({"detail": "Not Found"}, status=404)
        except web.HTTPMethodNotAllowed:
            return web.json_response({"detail": "Method Not Allowed"}, status=405)
        finally:
            self.tasks.discard(task)
            self.generating.discard(task)

    # ---- simple endpoints ----------------------------------------------------------------
    def emulator_info(self):
        p = self.params
        return {
            "emulated": True,
            "engine": self.spec.engine,
            "preset": p.name,
            "preset_reason": self.preset_reason,
            "calibrated": p.calibrated,
            "time_scale": self.scale,
            "seed": self.settings.seed,
            "worker": self.worker,
            "workers": self.workers,
            "spec_tokens": p.spec_tokens,
            "max_send_lateness_s": self.max_lateness,
            "faults": self.faults.active(),
            "hf_token_from_file": self.hf_token_from_file,
            "api_key_required": bool(self.keys),
            "tokenizer": "words (llmfleet_emulator.tokenizer)",
            "vocab_size": tokenizer.VOCAB_SIZE,
            "cluster": self.cluster.status() if self.cluster is not None else None,
        }

    def _cell_problem(self):
        """A multi-node head's 503: the missing or departed ranks, named (None when the cell is whole)."""
        problem = self.cluster.problem() if self.cluster is not None else None
        if problem is None:
            return None
        return web.json_response({"message": problem, "cluster": self.cluster.status()}, status=503)

    async def health(self, request):
        cell = self._cell_problem()
        if cell is not None:
            return cell
        if self.dead or self.warming or self.shutting_down or self.draining:
            return web.Response(status=503)
        return web.Response(status=200)

    async def version(self, request):
        return web.json_response({"version": self.spec.version, "emulator": self.emulator_info()})

    async def models(self, request):
        owner = self.spec.engine
        data = [
            {
                "id": name,
                "object": "model",
                "created": self.created,
                "owned_by": owner,
                "root": self.spec.model,
                "parent": None,
                "max_model_len": self.spec.max_model_len,
                "permission": [
                    {
                        "id": "modelperm-emulated",
                        "object": "model_permission",
                        "created": self.created,
                        "allow_create_engine": False,
                        "allow_sampling": True,
                        "allow_logprobs": True,
                        "allow_search_indices": False,
                        "allow_view": True,
                        "allow_fine_tuning": False,
                        "organization": "*",
                        "group": None,
                        "is_blocking": False,
                    }
                ],
            }
            for name in self.spec.served_names
        ]
        return web.json_response({"object": "list", "data": data})

    async def metrics_page(self, request):
        if not self.spec.enable_metrics:
            return web.json_response({"detail": "Not Found"}, status=404)
        text = self.metrics.render(self.engine, self.params.spec_tokens)
        return web.Response(
            text=text, content_type="text/plain", charset="utf-8", headers={"X-Emulator-Worker": str(self.worker)}
        )

    async def model_info(self, request):
        return web.json_response(
            {
                "model_path": self.spec.model,
                "tokenizer_path": self.spec.model,
                "is_generation": True,
                "preferred_sampling_params": None,
                "weight_version": "default",
                "has_image_understanding": False,
                "has_audio_understanding": False,
                "model_type": "deepseek_v4" if "v4" in self.spec.model.lower() else None,
                "architectures": ["DeepseekV4ForCausalLM"] if "v4" in self.spec.model.lower() else None,
            }
        )

    async def server_info(self, request):
        info = dict(self.spec.args)
        info.update(
            {
                "version": self.spec.version,
                "served_model_name": self.spec.served_name,
                "internal_states": [
                    {
                        "avg_spec_accept_length": self.params.spec_accept_mean if self.params.spec_tokens > 1 else None,
                        "last_gen_throughput": 0.0,
                    }
                ],
                "emulator": self.emulator_info(),
            }
        )
        return web.json_response(json.loads(json.dumps(info, default=str)))

    async def health_generate(self, request):
        cell = self._cell_problem()
        if cell is not None:
            return cell
        if self.dead or self.warming or self.shutting_down:
            return web.Response(status=503)

        async def nothing(k):
            return None

        await self.drive(self.engine.request(1, 1, random.Random(0)), nothing)
        return web.Response(status=200)

    # ---- request parsing -----------------------------------------------------------------
    async def _body(self, request, arrival=None):
        try:
            body = await request.json(loads=json.loads)
        except ValueError as exc:
            raise RequestError(400, "JSON decode error: %s" % exc) from exc
        if arrival is not None:  # when the whole body was in: the engine cannot start before
            arrival += [time.time(), time.monotonic()]
        if not isinstance(body, dict):
            raise RequestError(400, "the request body must be a JSON object")
        return body

    def _check_model(self, body):
        model = body.get("model")
        if model is None:
            return self.spec.served_name
        if model not in self.served:
            raise RequestError(404, "The model `%s` does not exist." % model, param="model")
        return model

    def _budget(self, body, prompt_tokens, anthropic=False):
        names = ("max_tokens",) if anthropic else ("max_completion_tokens", "max_tokens")
        budget = None
        for name in names:
            value = body.get(name)
            if value is not None:
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise RequestError(400, "%s must be an integer of at least 1, got %r" % (name, value), param=name)
                budget = value
                break
        limit = self.spec.max_model_len
        if prompt_tokens > limit:
            raise RequestError(
                400,
                "This model's maximum context length is %d tokens. However, your request has "
                "%d input tokens. Please reduce the length of the input messages." % (limit, prompt_tokens),
            )
        if budget is None:
            if anthropic:
                raise RequestError(400, "max_tokens: Field required", param="max_tokens")
            return limit - prompt_tokens
        if prompt_tokens + budget > limit:
            raise RequestError(
                400,
                "This model's maximum context length is %d tokens. However, you requested "
                "%d tokens (%d in the messages, %d in the completion). Please reduce the length "
                "of the messages or completion." % (limit, prompt_tokens + budget, prompt_tokens, budget),
                param="max_tokens",
            )
        return budget

    def _gate(self):
        """Faults and engine state that fail a generation request before it starts."""
        if self.draining:
            raise RequestError(
                503,
                "the server is shutting down: it finishes the running requests and accepts no new one",
                kind="ServiceUnavailableError",
            )
        if self.cluster is not None and self.cluster.problem():
            raise RequestError(
                503, "the multi-node cell is not whole: %s" % self.cluster.problem(), kind="ServiceUnavailableError"
            )
        if self.dead:
            raise RequestError(
                500, "EngineDeadError: the engine core died (emulated fault)", kind="InternalServerError"
            )
        f = self.faults.http500_fraction
        if f and self.fault_rng.random() < f:
            raise RequestError(
                500,
                "Internal server error (emulated fault EMULATOR_FAULT_HTTP500_FRACTION)",
                kind="InternalServerError",
            )

    def _tool(self, body, messages, anthropic):
        tools = body.get("tools")
        if not tools:
            return None
        if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
            raise RequestError(400, "tools must be a list of objects", param="tools")
        choice = body.get("tool_choice", "auto")
        if anthropic and isinstance(choice, dict) and choice.get("type") == "auto":
            choice = "auto"
        if self.spec.engine == "vllm" and choice == "auto" and not anthropic:
            if not (self.spec.auto_tool_choice and self.spec.tool_call_parser):
                raise RequestError(
                    400, '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
                )
        if self.spec.engine == "sglang" and not self.spec.tool_call_parser and not anthropic:
            return None  # SGLang without a parser answers in plain text
        last_text = ""
        if messages:
            last_text = tokenizer.content_text(messages[-1].get("content"))
        picked = generation.pick_tool(tools, choice, messages, last_text, anthropic=anthropic)
        if picked is None:
            return None
        prefix = "toolu_" if anthropic else "chatcmpl-tool-"
        return generation.make_tool_call(picked[0], picked[1], prefix + uuid.uuid4().hex[:24])

    @staticmethod
    def _messages(body):
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError(400, "messages: Field required (a non-empty list)", param="messages")
        for m in messages:
            if not isinstance(m, dict) or "role" not in m:
                raise RequestError(400, "each message must be an object with a role", param="messages")
        return messages

    def _prompt_key(self, messages):
        texts = [tokenizer.content_text(m.get("content")) for m in messages]
        return "\n".join(texts).encode("utf-8", "surrogatepass")

    def _output(self, body, headers, prompt_key, budget, tool):
        natural = generation.natural_length(prompt_key, self.settings.seed)
        thinking = bool(self.spec.reasoning_parser) and generation.wants_thinking(body, headers)
        offset = zlib.crc32(prompt_key) % generation.POOL_SIZE
        return generation.plan_output(
            budget, bool(body.get("ignore_eos", False)), natural, thinking, tool, self.faults, offset
        )

    def _rid(self, request, prefix):
        given = request.headers.get("x-request-id")
        if given:
            return given, prefix + given
        hexid = uuid.uuid4().hex
        return hexid, prefix + hexid

    # ---- generation endpoints ------------------------------------------------------------
    async def chat(self, request):
        arrival = [time.time(), time.monotonic()]
        try:
            body = await self._body(request, arrival)
            model = self._check_model(body)
            messages = self._messages(body)
            tool = self._tool(body, messages, anthropic=False)
            try:
                prompt_tokens = tokenizer.chat_count(messages, body.get("tools"))
            except ValueError as exc:
                raise RequestError(400, str(exc), param="messages") from exc
            budget = self._budget(body, prompt_tokens)
            if body.get("n", 1) != 1:
                raise RequestError(400, "the emulator serves n=1 only", param="n")
            out = self._output(body, request.headers, self._prompt_key(messages), budget, tool)
            self._gate()
        except RequestError as err:
            return self._fail(request, "/v1/chat/completions", arrival, err)
        trace_id, rid = self._rid(request, "chatcmpl-")
        if not body.get("stream"):
            return await self._unary(
                request,
                "/v1/chat/completions",
                arrival,
                trace_id,
                prompt_tokens,
                out,
                lambda: sse.chat_message(rid, int(arrival[0]), model, out, prompt_tokens),
            )
        opts = body.get("stream_options") or {}
        enc = sse.ChatEncoder(rid, int(arrival[0]), model, out, bool(opts.get("include_usage")))
        return await self._stream(request, "/v1/chat/completions", arrival, trace_id, prompt_tokens, out, enc, True)

    async def completions(self, request):
        arrival = [time.time(), time.monotonic()]
        try:
            body = await self._body(request, arrival)
            model = self._check_model(body)
            prompt = body.get("prompt")
            if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
                prompt = prompt[0]
            if isinstance(prompt, str):
                prompt_tokens = 1 + tokenizer.count(prompt)
                key = prompt.encode("utf-8", "surrogatepass")
            elif isinstance(prompt, list) and prompt and all(isinstance(i, int) for i in prompt):
                prompt_tokens = len(prompt)
                key = _DUMPS(prompt).encode()
            else:
                raise RequestError(400, "prompt must be a string or a list of token ids", param="prompt")
            budget = self._budget(body, prompt_tokens)
            if body.get("max_tokens") is None:
                budget = min(budget, 16)  # the OpenAI completions default
            out = self._output(body, request.headers, key, budget, None)
            self._gate()
        except RequestError as err:
            return self._fail(request, "/v1/completions", arrival, err)
        trace_id, rid = self._rid(request, "cmpl-")
        if not body.get("stream"):
            return await self._unary(
                request,
                "/v1/completions",
                arrival,
                trace_id,
                prompt_tokens,
                out,
                lambda: sse.completion_body(rid, int(arrival[0]), model, out, prompt_tokens),
            )
        opts = body.get("stream_options") or {}
        enc = sse.CompletionEncoder(rid, int(arrival[0]), model, out, bool(opts.get("include_usage")))
        return await self._stream(request, "/v1/completions", arrival, trace_id, prompt_tokens, out, enc, False)

    async def messages(self, request):
        arrival = [time.time(), time.monotonic()]
        try:
            body = await self._body(request, arrival)
            model = self._check_model(body)
            messages = self._messages(body)
            tool = self._tool(body, messages, anthropic=True)
            try:
                prompt_tokens = tokenizer.chat_count(messages, body.get("tools"), body.get("system"))
            except ValueError as exc:
                raise RequestError(400, str(exc), param="messages") from exc
            budget = self._budget(body, prompt_tokens, anthropic=True)
            out = self._output(body, request.headers, self._prompt_key(messages), budget, tool)
            self._gate()
        except RequestError as err:
            return self._fail(request, "/v1/messages", arrival, err, anthropic=True)
        trace_id = self._rid(request, "")[0]
        rid = "msg_" + uuid.uuid4().hex[:24]
        if not body.get("stream"):
            return await self._unary(
                request,
                "/v1/messages",
                arrival,
                trace_id,
                prompt_tokens,
                out,
                lambda: sse.anthropic_message(rid, model, out, prompt_tokens),
            )
        enc = sse.AnthropicEncoder(rid, model, out, prompt_tokens)
        return await self._stream(request, "/v1/messages", arrival, trace_id, prompt_tokens, out, enc, True, done=False)

    # ---- shared paths --------------------------------------------------------------------
    def _fail(self, request, endpoint, arrival, err, anthropic=False):
        self.metrics.errors += 1
        if self.trace is not None:
            self.trace.write(
                {
                    "request_id": request.headers.get("x-request-id"),
                    "endpoint": endpoint,
                    "status": err.status,
                    "error": str(err),
                    "worker": self.worker,
                    "arrival_time": arrival[0],
                    "arrival_monotonic": arrival[1],
                }
            )
        body = _anthropic_error_body(err) if anthropic and err.status != 401 else _error_body(err)
        return web.json_response(body, status=err.status)

    def _new_rng(self):
        self.request_index += 1
        return random.Random((self.settings.seed * 1_000_003 + self.request_index) * 256 + self.worker)

    def _observe(self, c, k, now_mono):
        m = self.metrics
        if c.sent and k:
            m.itl.observe(now_mono - c.mono[-1])
        m.generation_tokens += k
        if self.params.spec_tokens > 1 and c.sent > 0:
            m.spec_drafts += 1
            m.spec_draft_tokens += self.params.spec_tokens - 1
            m.spec_accepted += k - 1

    async def _unary(self, request, endpoint, arrival, trace_id, prompt_tokens, out, make_body):
        c = _Counters()

        async def on_emit(k):
            now = time.monotonic()
            if c.first_mono is None:
                c.first_mono = now
                self.metrics.ttft.observe(now - arrival[1])
            self._observe(c, k, now)
            c.wall.append(time.time())
            c.mono.append(now)
            c.tokens.append(k)
            c.sent += k

        self.metrics.prompt_tokens += prompt_tokens
        c.late = await self.drive(self.engine.request(prompt_tokens, out.total, self._new_rng()), on_emit)
        resp = web.json_response(make_body())
        self._finish(endpoint, arrival, trace_id, prompt_tokens, out, c, False, 200)
        return resp

    async def _stream(self, request, endpoint, arrival, trace_id, prompt_tokens, out, enc, role_chunk, done=True):
        resp = web.StreamResponse(status=200, headers=SSE_HEADERS)
        await resp.prepare(request)
        c = _Counters()
        stall = self.faults.stall_after_chunks
        write = resp.write
        mono, wall = time.monotonic, time.time

        async def on_emit(k):
            start = c.sent
            if stall is not None and len(c.tokens) - (1 if role_chunk else 0) >= stall:
                await self._stall(request)
            data = enc.chunk(start, start + k)
            now = mono()
            if c.first_mono is None:
                c.first_mono = now
                self.metrics.ttft.observe(now - arrival[1])
                data = enc.first() + data
                if role_chunk:  # the role chunk leaves with the first token, as in vLLM
                    c.wall.append(wall())
                    c.mono.append(now)
                    c.tokens.append(0)
            self._observe(c, k, now)
            c.wall.append(wall())
            c.mono.append(now)
            c.tokens.append(k)
            c.sent = start + k
            await write(data)

        self.metrics.prompt_tokens += prompt_tokens
        status = 499  # unless it completes: the client went away (nginx's code for it)
        usage_time = None
        try:
            c.late = await self.drive(self.engine.request(prompt_tokens, out.total, self._new_rng()), on_emit)
            tail = enc.finish(prompt_tokens, c.sent)
            if not done and tail.endswith(sse.DONE):
                tail = tail[: -len(sse.DONE)]
            usage_time = wall()
            await resp.write(tail)
            await resp.write_eof()
            status = 200
        except ConnectionError:
            pass  # nothing to answer on a closed connection
        finally:
            self._finish(endpoint, arrival, trace_id, prompt_tokens, out, c, True, status, usage_time=usage_time)
        return resp

    async def _stall(self, request):
        """EMULATOR_FAULT_STALL_AFTER_CHUNKS: keep the connection open, send nothing more."""
        while True:
            await asyncio.sleep(0.5)
            transport = request.transport
            if transport is None or transport.is_closing():
                raise ConnectionResetError("client closed a stalled stream")

    def _finish(self, endpoint, arrival, trace_id, prompt_tokens, out, c, stream, status, usage_time=None):
        m = self.metrics
        if status == 200:
            m.success[out.finish if out.finish in m.success else "stop"] += 1
            m.e2e.observe((c.mono[-1] if c.mono else time.monotonic()) - arrival[1])
        else:
            m.success["abort"] += 1
        if self.trace is not None:
            self.trace.write(
                {
                    "request_id": trace_id,
                    "endpoint": endpoint,
                    "status": status,
                    "stream": stream,
                    "worker": self.worker,
                    "preset": self.params.name,
                    "time_scale": self.scale,
                    "arrival_time": arrival[0],
                    "arrival_monotonic": arrival[1],
                    "body_received_time": arrival[2],
                    "body_received_monotonic": arrival[3],
                    "first_chunk_time": c.wall[0] if c.wall else None,
                    "first_chunk_monotonic": c.mono[0] if c.mono else None,
                    "chunk_times": c.wall,
                    "chunk_monotonic": c.mono,
                    "chunk_tokens": c.tokens,
                    "usage_time": usage_time,
                    "max_send_lateness_s": c.late,
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": c.sent,
                    "finish_reason": out.finish if status == 200 else None,
                    "end_time": time.time(),
                    "end_monotonic": time.monotonic(),
                }
            )
        if status == 200:
            self._count_completion()

    def _count_completion(self):
        self.completed += 1
        f = self.faults
        if f.dead_after_requests is not None and self.completed >= f.dead_after_requests and not self.dead:
            self.dead = True
            self.log(
                "ERROR",
                "Engine core died after %d requests (emulated fault "
                "EMULATOR_FAULT_DEAD_AFTER_REQUESTS); /health now answers 503" % self.completed,
            )
        if f.exit_after_requests is not None and self.completed >= f.exit_after_requests:
            self.dead = True
            self.log(
                "ERROR",
                "Engine core died after %d requests (emulated fault "
                "EMULATOR_FAULT_EXIT_AFTER_REQUESTS); exiting with code 1" % self.completed,
            )
            asyncio.get_running_loop().call_later(0.2, os._exit, 1)

    # ---- tokenizer endpoints -------------------------------------------------------------
    async def tokenize(self, request):
        try:
            body = await self._body(request)
            self._check_model(body)
            if "messages" in body:
                messages = self._messages(body)
                try:
                    ids = tokenizer.chat_ids(
                        messages, body.get("tools"), add_generation_prompt=body.get("add_generation_prompt", True)
                    )
                except ValueError as exc:
                    raise RequestError(400, str(exc), param="messages") from exc
            elif isinstance(body.get("prompt"), str):
                ids = tokenizer.encode(body["prompt"], add_special_tokens=body.get("add_special_tokens", True))
            else:
                raise RequestError(400, "either prompt (a string) or messages is required")
        except RequestError as err:
            return web.json_response(_error_body(err), status=err.status)
        token_strs = [tokenizer.VOCAB[i] for i in ids] if body.get("return_token_strs") else None
        return web.json_response(
            {"count": len(ids), "max_model_len": self.spec.max_model_len, "tokens": ids, "token_strs": token_strs}
        )

    async def detokenize(self, request):
        try:
            body = await self._body(request)
            self._check_model(body)
            ids = body.get("tokens")
            if not isinstance(ids, list):
                raise RequestError(400, "tokens: a list of token ids is required", param="tokens")
            try:
                text = tokenizer.decode(ids)
            except ValueError as exc:
                raise RequestError(400, str(exc), param="tokens") from exc
        except RequestError as err:
            return web.json_response(_error_body(err), status=err.status)
        return web.json_response({"prompt": text})
