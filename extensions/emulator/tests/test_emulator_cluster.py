"""Multi-node cells: the head waits for every rank at the rendezvous address (cluster.py).

Heads and workers run as separate processes on 127.0.0.1 with their own ports, as the fleet
planner's command lines put them on separate hosts.
"""

import signal
import time

from emulator_harness import Emulator, free_port, port_open, run_cli


def sglang_rank(rank, nnodes, dist, tp=8):
    return [
        "sglang",
        "--model-path",
        "sgl-project/DeepSeek-V4-Flash-FP8",
        "--served-model-name",
        "deepseek",
        "--tp",
        str(tp),
        "--nnodes",
        str(nnodes),
        "--node-rank",
        str(rank),
        "--dist-init-addr",
        "127.0.0.1:%d" % dist,
        "--dist-timeout",
        "3600",
    ]


def vllm_rank(start, size, local, rpc):
    argv = [
        "vllm",
        "serve",
        "--model",
        "deepseek-ai/DeepSeek-V4-Flash",
        "--served-model-name",
        "deepseek",
        "--tensor-parallel-size",
        "1",
        "--enable-expert-parallel",
        "--data-parallel-size",
        str(size),
        "--data-parallel-size-local",
        str(local),
        "--data-parallel-address",
        "127.0.0.1",
        "--data-parallel-rpc-port",
        str(rpc),
    ]
    if start:
        argv += ["--headless", "--data-parallel-start-rank", str(start)]
    return argv


def wait_for(predicate, what, proc_logs, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s:\n%s" % (what, "\n----\n".join(log() for log in proc_logs)))


def health(emu):
    return emu.get("/health")


def test_sglang_head_answers_503_naming_missing_ranks_until_every_rank_joins(tmp_path):
    dist = free_port()
    head = Emulator(sglang_rank(0, 3, dist), log_dir=tmp_path)
    workers = []
    try:
        status, _h, body = health(head)
        assert status == 503
        assert "waiting for ranks 1, 2" in body["message"] and "--dist-init-addr 127.0.0.1:%d" % dist in body["message"]
        assert body["cluster"]["missing_ranks"] == [1, 2]
        workers.append(Emulator(sglang_rank(1, 3, dist), log_dir=tmp_path, wait=False))
        wait_for(lambda: "rank 1/3 joined from 127.0.0.1" in head.log(), "rank 1 to join", [head.log])
        status, _h, body = health(head)
        assert status == 503 and body["cluster"]["missing_ranks"] == [2], body
        assert (
            head.post(
                "/v1/chat/completions",
                {"model": "deepseek", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
            )[0]
            == 503
        )
        workers.append(Emulator(sglang_rank(2, 3, dist), log_dir=tmp_path, wait=False))
        wait_for(lambda: health(head)[0] == 200, "the head to be ready", [head.log] + [w.log for w in workers])
        assert "rank 2/3 joined from 127.0.0.1" in head.log()
        assert head.get("/v1/models")[0] == 200
        for worker in workers:  # SGLang's dummy health server on ranks >= 1: /health only
            worker.wait_ready()
            assert health(worker)[0] == 200
            assert worker.get("/v1/models")[0] == 404
    finally:
        for emu in workers + [head]:
            emu.stop()


def test_sglang_worker_that_dies_makes_the_head_unhealthy_and_the_dummy_health_stays_200(tmp_path):
    dist = free_port()
    head = Emulator(sglang_rank(0, 2, dist), log_dir=tmp_path)
    worker = Emulator(sglang_rank(1, 2, dist), log_dir=tmp_path)
    try:
        wait_for(lambda: health(head)[0] == 200, "the head to be ready", [head.log, worker.log])
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait(5)
        wait_for(lambda: health(head)[0] == 503, "the head to turn unhealthy", [head.log])
        status, _h, body = health(head)
        assert "rank 1 of 2 left the cell" in body["message"], body
        assert body["cluster"]["lost_ranks"] == [1]
        assert head.proc.poll() is None  # as the real SGLang head: up, but hung at its next step
        assert "rank 1/2 (127.0.0.1) left the cell" in head.log()
    finally:
        worker.stop()
        head.stop()


def test_worker_pointed_at_a_wrong_address_keeps_retrying_and_the_head_stays_not_ready(tmp_path):
    dist, wrong = free_port(), free_port()
    head = Emulator(sglang_rank(0, 2, dist), log_dir=tmp_path)
    worker = Emulator(sglang_rank(1, 2, wrong), log_dir=tmp_path, wait=False)
    try:
        wait_for(
            lambda: worker.log().count("failed to connect to 127.0.0.1:%d" % wrong) >= 2,
            "two retry lines",
            [worker.log],
            timeout=10,
        )
        assert worker.proc.poll() is None
        assert not port_open(worker.port)  # a rank that never joined never opens its dummy health server
        status, _h, body = health(head)
        assert status == 503 and body["cluster"]["missing_ranks"] == [1]
        assert "waiting for rank 1 to join" in head.log()  # the head's periodic line names it too
    finally:
        worker.stop()
        head.stop()


def test_sglang_head_gives_up_after_dist_timeout_naming_the_missing_rank():
    dist = free_port()
    argv = sglang_rank(0, 2, dist)
    argv[argv.index("--dist-timeout") + 1] = "1"
    result = run_cli(argv + ["--host", "127.0.0.1", "--port", str(free_port())], timeout=20)
    assert result.returncode == 1
    assert "Timed out after 1 seconds waiting for clients. 1/2 clients joined; missing rank 1" in result.stderr


def test_vllm_head_keeps_its_port_closed_until_the_headless_worker_joins_and_exits_when_it_dies(tmp_path):
    rpc = free_port()
    head = Emulator(vllm_rank(0, 2, 1, rpc), log_dir=tmp_path, wait=False)
    worker = None
    try:
        wait_for(
            lambda: "Waiting for 1 remote core engine proc(s) to start (DP ranks 1" in head.log(),
            "the head to wait",
            [head.log],
        )
        time.sleep(0.5)
        assert not port_open(head.port)
        worker = Emulator(vllm_rank(1, 2, 1, rpc), log_dir=tmp_path, wait=False)
        head.wait_ready()
        assert "rank 1/2 joined from 127.0.0.1" in head.log()
        wait_for(lambda: health(head)[0] == 200, "the head's /health", [head.log])
        wait_for(lambda: "headless: DP ranks 1 ready" in worker.log(), "the worker to load", [worker.log])
        assert not port_open(worker.port)  # headless: no API server
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait(5)
        assert head.proc.wait(10) == 1
        assert "EngineDeadError" in head.log()
    finally:
        if worker is not None:
            worker.stop()
        head.stop()


def test_two_cells_on_one_host_run_independently(tmp_path):
    """Two packed replicas: each head with its own HTTP and rendezvous ports, each with its own worker."""
    cells = []
    try:
        for _attempt in range(2):
            dist = free_port()
            cells.append(
                (
                    Emulator(sglang_rank(0, 2, dist, tp=4), log_dir=tmp_path),
                    Emulator(sglang_rank(1, 2, dist, tp=4), log_dir=tmp_path, wait=False),
                )
            )
        for head, worker in cells:
            wait_for(lambda head=head: health(head)[0] == 200, "each head", [head.log, worker.log])
        cells[0][1].proc.send_signal(signal.SIGKILL)
        cells[0][1].proc.wait(5)
        wait_for(lambda: health(cells[0][0])[0] == 503, "the first head to turn unhealthy", [cells[0][0].log])
        assert health(cells[1][0])[0] == 200  # the other cell is untouched
    finally:
        for head, worker in cells:
            worker.stop()
            head.stop()


def test_a_second_worker_claiming_a_joined_rank_is_refused(tmp_path):
    dist = free_port()
    head = Emulator(sglang_rank(0, 2, dist), log_dir=tmp_path)
    first = Emulator(sglang_rank(1, 2, dist), log_dir=tmp_path)
    try:
        result = run_cli(sglang_rank(1, 2, dist) + ["--host", "127.0.0.1", "--port", str(free_port())])
        assert result.returncode == 1
        assert "refused this worker: rank(s) 1 already joined (from 127.0.0.1)" in result.stderr
        assert health(head)[0] == 200
    finally:
        first.stop()
        head.stop()


def test_bad_multi_node_flags_exit_2_naming_the_flag():
    cases = [
        (
            ["sglang", "--model-path", "M", "--nnodes", "2", "--node-rank", "2", "--dist-init-addr", "h:1"],
            "--node-rank: 2 is not a rank of --nnodes 2 (use 0..1)",
        ),
        (["sglang", "--model-path", "M", "--nnodes", "2", "--node-rank", "1"], "--dist-init-addr: required"),
        (["sglang", "--model-path", "M", "--nnodes", "2", "--dist-init-addr", "10.0.0.1"], "is not HOST:PORT"),
        (
            ["vllm", "serve", "M", "--data-parallel-size", "2", "--data-parallel-size-local", "1", "--headless"],
            "a --headless node needs its first rank",
        ),
        (
            [
                "vllm",
                "serve",
                "M",
                "--data-parallel-size",
                "2",
                "--data-parallel-size-local",
                "1",
                "--headless",
                "--data-parallel-start-rank",
                "2",
            ],
            "ranks 2..2 do not fit in --data-parallel-size 2",
        ),
    ]
    for argv, complaint in cases:
        result = run_cli(argv)
        assert result.returncode == 2, (argv, result.stderr)
        assert complaint in result.stderr, (argv, result.stderr)
    result = run_cli(sglang_rank(0, 2, 5000), env={"EMULATOR_WORKERS": "2"})
    assert result.returncode == 2 and "EMULATOR_WORKERS=2 cannot serve a multi-node rank" in result.stderr
