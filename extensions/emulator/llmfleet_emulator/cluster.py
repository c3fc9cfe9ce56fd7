"""Multi-node cells: a tiny TCP rendezvous in place of torch.distributed / vLLM's DP handshake.

What the real engines do, and what this emulates (extensions/emulator/README.md, "Multi-node cells"):

- SGLang (``--nnodes N --node-rank R --dist-init-addr HOST:PORT``): every rank runs the same command.
  Rank 0 (the head) listens on PORT (torch's TCPStore); ranks >= 1 connect to HOST:PORT and the
  process group forms only when all N have. Only rank 0 serves HTTP; ranks >= 1 start a dummy health
  server that answers 200 on /health no matter what. A rank that dies leaves the head up but hung at
  its next collective (a known SGLang failure): its /health (a generate check) answers 503.
- vLLM data parallel (``--data-parallel-size D --data-parallel-size-local L --data-parallel-address
  HOST --data-parallel-rpc-port P``; workers add ``--headless --data-parallel-start-rank K``): the head
  owns DP ranks 0..L-1, a worker K..K+L-1. The head's API server opens its port only once every
  engine has done its handshake; headless workers open no HTTP port. An engine that dies kills the
  API server (EngineDeadError, the process exits).

Protocol: the worker connects and sends one JSON line ``{"engine", "size", "ranks"}``; the head
answers ``OK`` or ``ERR <why>`` and both keep the connection open. A closed connection is a dead
peer. The rendezvous runs in threads, so it works while the main thread "loads" (time.sleep) and
while the event loop serves; the HTTP side only reads this object's state.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time

HELLO_TIMEOUT_S = 5.0
RETRY_S = 1.0
LOG_EVERY_S = 2.0  # how often a waiting head or a retrying worker repeats its line


class ClusterError(ValueError):
    """A multi-node command line that the real engine refuses too."""


def _split_addr(value, flag):
    host, sep, port = (value or "").strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError("argument %s: %r is not HOST:PORT (e.g. 10.0.0.1:5000, the head's address)" % (flag, value))
    return host, int(port)


def from_spec(spec, environ=None):
    """The Cluster a command line asks for, or None for a single-node engine."""
    environ = os.environ if environ is None else environ
    a = spec.args
    if spec.engine == "sglang":
        nnodes = a.get("nnodes") or 1
        rank = a.get("node_rank") or 0
        if nnodes < 1:
            raise ClusterError("argument --nnodes: must be at least 1, got %d" % nnodes)
        if not 0 <= rank < nnodes:
            raise ClusterError(
                "argument --node-rank: %d is not a rank of --nnodes %d (use 0..%d)" % (rank, nnodes, nnodes - 1)
            )
        if nnodes == 1:
            return None
        if not a.get("dist_init_addr"):
            raise ClusterError(
                "argument --dist-init-addr: required with --nnodes %d (the head's HOST:PORT, the "
                "same on every rank)" % nnodes
            )
        host, port = _split_addr(a["dist_init_addr"], "--dist-init-addr")
        return Cluster(
            "sglang",
            nnodes,
            [rank],
            host,
            port,
            "--dist-init-addr %s:%d" % (host, port),
            head=rank == 0,
            timeout=a.get("dist_timeout"),
        )
    size = a.get("data_parallel_size") or 1
    local = a.get("data_parallel_size_local")
    local = size if local is None else local
    start = a.get("data_parallel_start_rank") or 0
    headless = bool(a.get("headless"))
    if local >= size and not headless:
        return None  # every DP rank on this node: no other node to wait for
    if local < 1:
        raise ClusterError("argument --data-parallel-size-local: must be at least 1, got %d" % local)
    if start < 0 or start + local > size:
        raise ClusterError(
            "argument --data-parallel-start-rank: ranks %d..%d do not fit in --data-parallel-size %d"
            % (start, start + local - 1, size)
        )
    if headless and start == 0:
        raise ClusterError(
            "argument --data-parallel-start-rank: a --headless node needs its first rank "
            "(K > 0: the head owns ranks 0..L-1)"
        )
    if not headless and start != 0:
        raise ClusterError(
            "argument --data-parallel-start-rank: only --headless nodes start above rank 0, got %d" % start
        )
    host = a.get("data_parallel_address") or "127.0.0.1"
    port = a.get("data_parallel_rpc_port") or 29550  # vLLM's default
    if not 0 < port < 65536:
        raise ClusterError("argument --data-parallel-rpc-port: %d is not a TCP port" % port)
    timeout = environ.get("VLLM_ENGINE_READY_TIMEOUT_S")
    try:
        timeout = float(timeout) if timeout else None
    except ValueError:
        raise ClusterError("VLLM_ENGINE_READY_TIMEOUT_S=%r is not a number of seconds" % timeout) from None
    return Cluster(
        "vllm",
        size,
        list(range(start, start + local)),
        host,
        port,
        "--data-parallel-address %s --data-parallel-rpc-port %d" % (host, port),
        head=not headless,
        timeout=timeout,
    )


def _ranks_text(ranks):
    return ", ".join(str(r) for r in ranks)


class Cluster:
    def __init__(self, engine, size, own, host, port, where, head, timeout=None):
        self.engine = engine
        self.size = size
        self.own = list(own)  # the ranks this process holds
        self.host = host
        self.port = port
        self.where = where  # the flags naming the rendezvous, for messages
        self.head = head
        self.timeout = timeout  # seconds to wait for the others (None: forever)
        self.joined = {r: "local" for r in own} if head else {}
        self.lost = {}  # rank -> peer address, once its connection closed
        self.error = None  # a worker's fatal error (refused by the head, head gone)
        self.connected = threading.Event()  # worker: the head accepted us; head: every rank joined
        self.log = lambda *a, **k: None
        self.on_fatal = None  # called with a message when the process must exit (see fatal())
        self._lock = threading.Lock()
        self._sockets = []
        self.stopping = False  # our own shutdown closes the connections: not a dead peer

    @property
    def role(self):
        return "head" if self.head else "worker"

    def label(self):
        return "rank%s %s/%d" % ("s" if len(self.own) > 1 else "", _ranks_text(self.own), self.size)

    # ---- state the HTTP side reads -----------------------------------------------------------
    def missing(self):
        with self._lock:
            return [r for r in range(self.size) if r not in self.joined]

    def problem(self):
        """None when the cell is whole; else one line saying which ranks are missing or gone."""
        with self._lock:
            lost = dict(self.lost)
            joined = len(self.joined)
        if lost:
            return (
                "rank%s %s of %d left the cell (connection from %s closed): the engine is broken until every "
                "rank is restarted"
                % (
                    "s" if len(lost) > 1 else "",
                    _ranks_text(sorted(lost)),
                    self.size,
                    ", ".join(sorted(set(lost.values()))),
                )
            )
        missing = self.missing()
        if missing:
            return "%d of %d ranks joined; waiting for rank%s %s to join %s" % (
                joined,
                self.size,
                "s" if len(missing) > 1 else "",
                _ranks_text(missing),
                self.where,
            )
        return None

    def status(self):
        with self._lock:
            return {
                "role": self.role,
                "size": self.size,
                "own_ranks": list(self.own),
                "joined_ranks": sorted(self.joined),
                "missing_ranks": [r for r in range(self.size) if r not in self.joined],
                "lost_ranks": sorted(self.lost),
                "rendezvous": "%s:%d" % (self.host, self.port),
            }

    # ---- start -----------------------------------------------------------------------------
    def start(self, log, on_fatal):
        self.log = log
        self.on_fatal = on_fatal
        if self.head:
            return self._start_head()
        threading.Thread(target=self._worker_loop, name="rendezvous", daemon=True).start()
        return None

    def fatal(self, message):
        self.error = message
        self.connected.set()
        if self.on_fatal is not None:
            self.on_fatal(message)

    def stop(self):
        self.stopping = True
        for sock in list(self._sockets):
            try:
                sock.close()
            except OSError:
                pass

    # ---- head ------------------------------------------------------------------------------
    def _start_head(self):
        """Listen on the rendezvous port (every interface, as torch's TCPStore). Returns an error or None."""
        try:
            srv = socket.create_server(("", self.port), reuse_port=False)
        except OSError as exc:
            return "cannot listen on port %d for %s: %s (another engine uses it: give each cell its own port)" % (
                self.port,
                self.where,
                exc.strerror or exc,
            )
        self._sockets.append(srv)
        self.log(
            "INFO",
            "%s (head): listening for %d other rank(s) on port %d (%s)"
            % (self.label(), self.size - len(self.own), self.port, self.where),
            source="cluster",
        )
        threading.Thread(target=self._accept_loop, args=(srv,), name="rendezvous", daemon=True).start()
        threading.Thread(target=self._head_waiting_log, name="rendezvous-log", daemon=True).start()
        return None

    def _head_waiting_log(self):
        start = time.monotonic()
        while not self.connected.wait(LOG_EVERY_S):
            waited = time.monotonic() - start
            self.log("INFO", "%s (head): %s (waited %.0f s)" % (self.label(), self.problem(), waited), source="cluster")
            if self.timeout is not None and waited >= self.timeout:
                missing = self.missing()
                if self.engine == "sglang":
                    text = (
                        "torch.distributed.DistStoreError: Timed out after %d seconds waiting for clients. "
                        "%d/%d clients joined; missing rank%s %s (%s)"
                        % (
                            self.timeout,
                            self.size - len(missing),
                            self.size,
                            "s" if len(missing) > 1 else "",
                            _ranks_text(missing),
                            self.where,
                        )
                    )
                else:
                    text = (
                        "TimeoutError: Timed out waiting for engines to send initial message on input socket "
                        "(VLLM_ENGINE_READY_TIMEOUT_S=%g); missing DP rank%s %s (%s)"
                        % (self.timeout, "s" if len(missing) > 1 else "", _ranks_text(missing), self.where)
                    )
                self.fatal(text)
                return

    def _accept_loop(self, srv):
        while True:
            try:
                conn, peer = srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve_peer, args=(conn, peer[0]), daemon=True).start()

    def _serve_peer(self, conn, ip):
        conn.settimeout(HELLO_TIMEOUT_S)
        try:
            hello = json.loads(conn.makefile("rb").readline(4096).decode() or "null")
        except (OSError, ValueError):
            conn.close()
            return  # not one of ours (a port scan, a preflight's TCP check): ignore
        ranks = hello.get("ranks") if isinstance(hello, dict) else None
        refusal = None
        with self._lock:
            if not isinstance(ranks, list) or not ranks or not all(isinstance(r, int) for r in ranks):
                refusal = "malformed hello %r" % (hello,)
            elif hello.get("engine") != self.engine:
                refusal = "this head runs %s, the worker %s" % (self.engine, hello.get("engine"))
            elif hello.get("size") != self.size:
                refusal = "world size mismatch: the head has %d ranks, the worker says %s" % (
                    self.size,
                    hello.get("size"),
                )
            elif any(not 0 <= r < self.size for r in ranks):
                refusal = "rank(s) %s outside 0..%d" % (_ranks_text(ranks), self.size - 1)
            elif any(r in self.joined and r not in self.lost for r in ranks):
                taken = [r for r in ranks if r in self.joined and r not in self.lost]
                refusal = "rank(s) %s already joined (from %s)" % (
                    _ranks_text(taken),
                    ", ".join(sorted({self.joined[r] for r in taken})),
                )
            if refusal is None:
                if any(r in self.lost for r in ranks):
                    refusal = (
                        "rank(s) %s left earlier: the cell cannot take a rank back; restart every rank"
                        % _ranks_text(ranks)
                    )
            if refusal is None:
                for r in ranks:
                    self.joined[r] = ip
        if refusal is not None:
            self.log("ERROR", "%s (head): refused a worker from %s: %s" % (self.label(), ip, refusal), source="cluster")
            try:
                conn.sendall(("ERR %s\n" % refusal).encode())
            except OSError:
                pass
            conn.close()
            return
        _keepalive(conn)
        conn.settimeout(None)
        self._sockets.append(conn)
        try:
            conn.sendall(b"OK\n")
        except OSError:
            pass
        for r in ranks:
            self.log("INFO", "rank %d/%d joined from %s" % (r, self.size, ip), source="cluster")
        if not self.missing():
            self.log("INFO", "%s (head): all %d ranks joined" % (self.label(), self.size), source="cluster")
            self.connected.set()
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass
        with self._lock:
            for r in ranks:
                self.lost[r] = ip
        conn.close()
        self._lost(ranks, ip)

    def _lost(self, ranks, ip):
        if self.stopping:
            return
        what = "rank%s %s/%d (%s)" % ("s" if len(ranks) > 1 else "", _ranks_text(ranks), self.size, ip)
        if self.engine == "vllm":
            # vLLM: a dead engine core takes the API server down with it.
            self.log(
                "ERROR",
                "%s: connection closed. EngineDeadError: a data parallel engine died; "
                "shutting down the API server" % what,
                source="core_client.py",
            )
            self.fatal("engine died: %s left the cell" % what)
        else:
            # SGLang: the head stays up, hung at its next collective; /health (a generate check) fails.
            self.log(
                "ERROR",
                "%s left the cell: connection closed; the head cannot run a step until every "
                "rank is restarted (/health now answers 503)" % what,
                source="cluster",
            )

    # ---- worker ----------------------------------------------------------------------------
    def _worker_loop(self):
        start = time.monotonic()
        last_log = None
        attempt = 0
        hello = (json.dumps({"engine": self.engine, "size": self.size, "ranks": self.own}) + "\n").encode()
        while True:
            attempt += 1
            waited = time.monotonic() - start
            try:
                sock = socket.create_connection((self.host, self.port), timeout=min(HELLO_TIMEOUT_S, RETRY_S * 2))
                sock.settimeout(HELLO_TIMEOUT_S)
                sock.sendall(hello)
                reply = sock.makefile("rb").readline(4096).decode().strip()
                if not reply:
                    sock.close()
                    raise ConnectionResetError(104, "closed without an answer (not a head of this cell?)")
            except OSError as exc:
                if self.timeout is not None and waited >= self.timeout:
                    self.fatal(
                        "torch.distributed.DistNetworkError: %s could not reach the head at %s:%d (%s) "
                        "within %d s: %s"
                        % (self.label(), self.host, self.port, self.where, self.timeout, exc.strerror or exc)
                    )
                    return
                now = time.monotonic()
                if last_log is None or now - last_log >= LOG_EVERY_S:
                    last_log = now
                    self.log(
                        "WARNING",
                        "%s: the client socket has failed to connect to %s:%d (%s): %s; retrying "
                        "(attempt %d, %.0f s)"
                        % (self.label(), self.host, self.port, self.where, exc.strerror or exc, attempt, waited),
                        source="socket.cpp",
                    )
                time.sleep(RETRY_S)
                continue
            if reply != "OK":
                sock.close()
                self.fatal(
                    "%s: the head at %s:%d refused this worker: %s"
                    % (self.label(), self.host, self.port, reply[4:] if reply.startswith("ERR ") else reply)
                )
                return
            _keepalive(sock)
            sock.settimeout(None)
            self._sockets.append(sock)
            self.log(
                "INFO",
                "%s: joined the head at %s:%d (%s)" % (self.label(), self.host, self.port, self.where),
                source="cluster",
            )
            self.connected.set()
            try:
                while sock.recv(4096):
                    pass
            except OSError:
                pass
            if self.stopping:
                return
            # The head is gone: a real worker fails at its next collective (NCCL error) and exits.
            self.fatal(
                "%s: the head at %s:%d closed the connection (the head died); exiting"
                % (self.label(), self.host, self.port)
            )
            return


def _keepalive(sock):
    """Notice a peer whose host vanished without closing the connection (seconds, not hours)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 5), ("TCP_KEEPINTVL", 2), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
