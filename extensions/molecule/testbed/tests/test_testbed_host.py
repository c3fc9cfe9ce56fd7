"""pytest-testinfra checks of one test host (run by verify.yml with --hosts=docker://HOST)."""


def test_systemd_is_pid_1_and_running(host):
    assert host.process.get(pid=1).comm == "systemd"
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded"), state


def test_dockerd_is_active(host):
    assert host.service("docker").is_running


def test_gpu_double_answers_like_nvidia_smi(host):
    out = host.check_output("nvidia-smi --query-gpu=index,name --format=csv,noheader")
    lines = out.splitlines()
    assert len(lines) == 8 and lines[0].startswith("0, NVIDIA ")


def test_engine_listens_on_8000(host):
    assert host.socket("tcp://0.0.0.0:8000").is_listening
