"""Start-up like a real engine: log, "load" with the port closed, then bind and serve.

Also the worker processes (EMULATOR_WORKERS): the parent loads once, forks N children that
each bind the same port with SO_REUSEPORT, and exits with the first failing child's code.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import sys
import time

from . import cluster as cluster_mod
from . import presets
from . import settings as settings_mod


class Log:
    """stderr lines in the style of the emulated engine, with timestamps."""

    def __init__(self, engine, worker=None):
        self.engine = engine
        self.worker = worker

    def __call__(self, level, message, source="api_server.py"):
        now = time.time()
        if self.engine == "vllm":
            stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(now))
            line = "%s %s [%s] %s" % (level, stamp, source, message)
        else:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
            line = "[%s%s] %s%s" % (
                stamp,
                "" if self.worker is None else " W%d" % self.worker,
                "" if level == "INFO" else level + ": ",
                message,
            )
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def raw(self, text):
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def _read_hf_token(environ, log):
    """HF_TOKEN_PATH, as huggingface_hub reads it: the file must exist and be readable."""
    path = environ.get("HF_TOKEN_PATH")
    if not path:
        return False, 0
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        log(
            "ERROR",
            "Cannot read the Hugging Face token file HF_TOKEN_PATH=%s (%s): the model download "
            "would fail with 401 Unauthorized" % (path, exc.strerror or exc),
            source="hub.py",
        )
        return None, 1
    if not data.strip():
        log("WARNING", "HF_TOKEN_PATH=%s is empty; continuing without a token" % path, source="hub.py")
        return False, 0
    log("INFO", "Using the Hugging Face token from HF_TOKEN_PATH (value not shown)", source="hub.py")
    return True, 0


def _load(spec, cfg, log):
    """Sleep through "loading" with the port closed. Returns an exit code or None to go on."""
    faults = cfg.faults
    total = cfg.load_seconds
    shards = 8
    log(
        "INFO",
        "Loading model %s (emulated: %.1f s; %d shards)" % (spec.model, total, shards),
        source="default_loader.py",
    )
    if faults.never_ready:
        while True:  # EMULATOR_FAULT_NEVER_READY: never bind the port
            time.sleep(max(0.5, min(5.0, total or 5.0)))
            log(
                "INFO",
                "Loading model %s: still loading (emulated fault EMULATOR_FAULT_NEVER_READY)" % spec.model,
                source="default_loader.py",
            )
    start = time.monotonic()
    for shard in range(1, shards + 1):
        time.sleep(total / shards)
        if faults.exit_during_load and shard >= shards // 2:
            log("ERROR", "EngineCore failed to start.", source="core.py")
            log.raw(
                "RuntimeError: Engine core initialization failed: CUDA error: an illegal memory access was "
                "encountered (emulated fault EMULATOR_FAULT_EXIT_DURING_LOAD)"
            )
            return 1
        if shard in (shards // 4, shards // 2, 3 * shards // 4, shards):
            log(
                "INFO",
                "Loading safetensors checkpoint shards: %3d%% Completed | %d/%d"
                % (100 * shard // shards, shard, shards),
                source="default_loader.py",
            )
    log("INFO", "Loading weights took %.2f seconds" % (time.monotonic() - start), source="default_loader.py")
    return None


def _new_loop(use_uvloop):
    if use_uvloop:
        try:
            import uvloop  # optional: Debian's python3-uvloop or the venv's
        except ImportError:
            uvloop = None
        if uvloop is not None:
            return uvloop.new_event_loop(), "uvloop"
    return asyncio.new_event_loop(), "asyncio"


async def _serve(emu, spec, cfg, log, worker, workers, cluster=None):
    from aiohttp import web

    runner = web.AppRunner(emu.make_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, spec.host, spec.port, reuse_port=workers > 1 or None, backlog=2048)
    try:
        await site.start()
    except OSError as exc:
        log(
            "ERROR",
            "[Errno %s] error while attempting to bind on address (%r, %d): %s"
            % (exc.errno, spec.host, spec.port, exc.strerror),
        )
        await runner.cleanup()
        return 1
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    first = worker == 0
    if spec.engine == "vllm":
        if first:
            log.raw("INFO:     Started server process [%d]" % os.getpid())
            log.raw("INFO:     Waiting for application startup.")
            log.raw("INFO:     Application startup complete.")
            log.raw("INFO:     Uvicorn running on http://%s:%d (Press CTRL+C to quit)" % (spec.host, spec.port))
    else:
        if first:
            log.raw("INFO:     Uvicorn running on http://%s:%d (Press CTRL+C to quit)" % (spec.host, spec.port))

    def warmed():
        emu.warming = False
        if first and spec.engine == "sglang":
            log("INFO", "The server is fired up and ready to roll!")

    async def warm_cell():
        # An SGLang head binds early and answers 503 (naming the missing ranks) until its cell is whole.
        while not cluster.connected.is_set():
            await asyncio.sleep(0.05)
        if cfg.warmup_seconds > 0:
            await asyncio.sleep(cfg.warmup_seconds)
        warmed()

    if cluster is not None:
        emu.warming = True
        warming_task = loop.create_task(warm_cell())
    elif cfg.warmup_seconds > 0:
        loop.call_later(cfg.warmup_seconds, warmed)
    else:
        warmed()
    await stop.wait()
    grace = drain_seconds(spec)
    if grace > 0 and emu.generating:
        await _drain(emu, spec, log, grace, first)
    if cluster is not None:
        cluster.stop()
        warming_task.cancel()
    if first:
        log("INFO", "Shutting down the HTTP server." if spec.engine == "vllm" else "Shutting down.")
    emu.shutting_down = True
    for task in list(emu.tasks):
        task.cancel()
    await runner.cleanup()
    return 0


def drain_seconds(spec):
    """How long SIGTERM lets running requests finish, as the engine does: vLLM --shutdown-timeout N (default 0:
    abort them), SGLang without limit (its graceful exit waits until no request runs; docker stop's SIGKILL
    ends it)."""
    if spec.engine == "sglang":
        return float("inf")
    value = spec.args.get("shutdown_timeout") or 0
    if isinstance(value, (list, tuple)):  # a flag of the catalog keeps its words as given
        value = value[-1] if value else 0
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 0.0


async def _drain(emu, spec, log, grace, first):
    """Refuse new generation requests (503, /health 503) and wait until the running ones finish or ``grace``
    seconds pass; a second SIGTERM does not shorten it (the container's stop timeout is the hard limit)."""
    emu.draining = True
    if first:
        log(
            "INFO",
            "Graceful shutdown: %d request(s) running, no new ones accepted; waiting %s"
            % (len(emu.generating), "until they finish" if grace == float("inf") else "up to %g s" % grace),
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while emu.generating and loop.time() < deadline:
        await asyncio.sleep(0.05)
    if emu.generating and first:
        log(
            "WARNING", "Shutdown timeout of %g s reached: aborting %d running request(s)" % (grace, len(emu.generating))
        )


def serve(spec, cfg, params, reason, worker, workers, hf_from_file, cluster=None):
    """Run one worker's server until SIGTERM/SIGINT; returns the exit code."""
    from .server import Emulator

    log = Log(spec.engine, worker if workers > 1 else None)
    # A full garbage collection over every long-lived object would stall all streams at once:
    # freeze what start-up made (vocabulary, modules) so collections skip it.
    gc.collect()
    gc.freeze()
    loop, kind = _new_loop(cfg.use_uvloop)
    asyncio.set_event_loop(loop)
    try:
        emu = Emulator(
            spec, cfg, params, reason, worker=worker, workers=workers, logger=log, hf_token_from_file=hf_from_file
        )
        emu.cluster = cluster
        if worker == 0:
            log("INFO", "llmfleet engine emulator: event loop %s, %d worker(s)" % (kind, workers), source="llmfleet")
        return loop.run_until_complete(_serve(emu, spec, cfg, log, worker, workers, cluster))
    finally:
        loop.close()


def _run_workers(spec, cfg, params, reason, hf_from_file, log):
    children = []
    for worker in range(cfg.workers):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = serve(spec, cfg, params, reason, worker, cfg.workers, hf_from_file)
            finally:
                os._exit(code)
        children.append(pid)
    stopping = [False]

    def forward(signum, frame):
        stopping[0] = True
        for child in children:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    result = 0
    while children:
        pid, status = os.wait()
        if pid not in children:
            continue
        children.remove(pid)
        code = os.waitstatus_to_exitcode(status)
        if code != 0 and not stopping[0]:
            log("ERROR", "worker process %d exited with code %d; stopping the others" % (pid, code))
            result = code if code > 0 else 1
            forward(signal.SIGTERM, None)
    return result


def _stop_loading(signum, frame):
    raise SystemExit(0)


def run(spec, environ=None):
    """Everything after the command line was parsed. Returns the process exit code."""
    environ = os.environ if environ is None else environ
    log = Log(spec.engine)
    try:
        cfg = settings_mod.from_env(spec.engine, environ)
        params, reason = presets.resolve(spec, environ)
        cluster = cluster_mod.from_spec(spec, environ)
        if cluster is not None and cfg.workers > 1:
            raise cluster_mod.ClusterError(
                "EMULATOR_WORKERS=%d cannot serve a multi-node rank (%s): use 1" % (cfg.workers, cluster.where)
            )
    except (settings_mod.SettingsError, presets.PresetError, cluster_mod.ClusterError) as exc:
        sys.stderr.write("llmfleet-emulator: error: %s\n" % exc)
        return 2
    if spec.engine == "vllm":
        log("INFO", "vLLM API server version %s" % spec.version)
        shown = {k: v for k, v in spec.args.items() if k != "model_tag"}
        log("INFO", "non-default args: %s" % json.dumps(shown, sort_keys=True, default=str), source="utils.py")
    else:
        log("INFO", "server_args=ServerArgs(%s)" % ", ".join("%s=%r" % kv for kv in sorted(spec.args.items())))
    log(
        "INFO",
        "llmfleet engine emulator: preset %s (%s), time scale %g, seed %d, faults: %s"
        % (params.name, reason, cfg.time_scale, cfg.seed, ", ".join(cfg.faults.active()) or "none"),
        source="llmfleet",
    )
    # As PID 1 in a container a signal without a handler is ignored: let `docker stop` end loading.
    signal.signal(signal.SIGTERM, _stop_loading)
    hf_from_file, code = _read_hf_token(environ, log)
    if code:
        return code
    if cluster is not None:
        code = _join(cluster, spec, log)
        if code is not None:
            return code
    code = _load(spec, cfg, log)
    if code is not None:
        return code
    if cluster is not None and not cluster.head:
        return _serve_cell_worker(spec, cluster, log)
    if cfg.workers == 1:
        return serve(spec, cfg, params, reason, 0, 1, hf_from_file, cluster)
    return _run_workers(spec, cfg, params, reason, hf_from_file, log)


# ---- multi-node cells (cluster.py) ---------------------------------------------------------------


def _join(cluster, spec, log):
    """Start the rendezvous; block where the real engine blocks. Returns an exit code or None."""

    def fatal(message):
        log("ERROR", message, source="cluster")
        os._exit(1)  # from a rendezvous thread: the engines exit 1 on a failed process group

    error = cluster.start(log, fatal)
    if error:
        log("ERROR", error, source="cluster")
        return 1
    if not cluster.head:
        if spec.engine == "vllm":
            log(
                "INFO",
                "Launching %d data parallel engine(s) in headless mode (DP ranks %s of %d), with head node "
                "address tcp://%s:%d"
                % (len(cluster.own), ", ".join(map(str, cluster.own)), cluster.size, cluster.host, cluster.port),
            )
        else:
            log(
                "INFO",
                "node rank %d of %d: connecting to the head at %s:%d (--dist-init-addr)"
                % (cluster.own[0], cluster.size, cluster.host, cluster.port),
            )
    elif spec.engine == "vllm":
        log(
            "INFO",
            "Waiting for %d remote core engine proc(s) to start (DP ranks %s; %s)"
            % (cluster.size - len(cluster.own), ", ".join(map(str, cluster.missing())), cluster.where),
            source="utils.py",
        )
    else:
        return None  # the SGLang head loads, binds and answers 503 until its ranks join (server.py)
    # vLLM's head keeps its API port closed until every engine did its handshake; a worker does
    # nothing before it joined. Short waits keep SIGTERM working (loading's handler raises SystemExit).
    while not cluster.connected.wait(0.2):
        pass
    return None


def _serve_cell_worker(spec, cluster, log):
    """A rank >= 1: SGLang's dummy health server (200 on /health no matter what); vLLM headless: no port."""
    stop = [False]

    def on_term(signum, frame):
        stop[0] = True

    if spec.engine == "vllm":
        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        log(
            "INFO",
            "headless: DP ranks %s ready; no API server on this node" % ", ".join(map(str, cluster.own)),
            source="core.py",
        )
        while not stop[0]:
            time.sleep(0.2)
        cluster.stop()
        return 0
    loop, _kind = _new_loop(False)
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(_dummy_health_server(spec, cluster, log))
    finally:
        loop.close()


async def _dummy_health_server(spec, cluster, log):
    from aiohttp import web

    async def ok(request):
        return web.Response(status=200)

    async def not_found(request):
        return web.json_response({"detail": "Not Found"}, status=404)

    app = web.Application()
    app.router.add_get("/health", ok)
    app.router.add_get("/health_generate", ok)
    app.router.add_route("*", "/{tail:.*}", not_found)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, spec.host, spec.port).start()
    except OSError as exc:
        log(
            "ERROR",
            "[Errno %s] error while attempting to bind on address (%r, %d): %s"
            % (exc.errno, spec.host, spec.port, exc.strerror),
        )
        await runner.cleanup()
        return 1
    log(
        "INFO",
        "Dummy health check server started in background on %s:%d (node rank %d: only rank 0 serves "
        "the API)" % (spec.host, spec.port, cluster.own[0]),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    cluster.stop()
    await runner.cleanup()
    return 0
