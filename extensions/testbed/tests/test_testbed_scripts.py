"""The testbed scripts' failure paths, with fake docker/dockerd/debootstrap commands on PATH (no Docker
engine is touched): a user without Docker, or with a Docker that will not start, gets a clear message."""

import pathlib
import shutil
import subprocess

import pytest

TESTBED = pathlib.Path(__file__).resolve().parents[1]
TOOLS = (
    "bash",
    "seq",
    "sleep",
    "tail",
    "setsid",
    "cat",
    "dirname",
    "ls",
    "sed",
    "tr",
    "mkdir",
    "flock",
    "touch",
    "grep",
    "awk",
    "head",
    "paste",
    "cut",
    "rm",
    "sha256sum",
)


def fake_path(tmp_path, scripts):
    """A PATH holding only the basic tools the scripts use and the given fake commands."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text("#!/bin/bash\n" + body + "\n")
        path.chmod(0o755)
    return str(bin_dir)


def run(script, *args, path, tmp_path, **env):
    environ = {
        "PATH": path,
        "HOME": str(tmp_path),
        "LLMFLEET_DOCKERD_LOG": str(tmp_path / "dockerd.log"),
        "LLMFLEET_TESTBED_CACHE": str(tmp_path / "cache"),
        **env,
    }
    return subprocess.run(
        [shutil.which("bash"), str(TESTBED / script), *args],
        env=environ,
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_no_docker_installed_says_how_to_install_it(tmp_path):
    result = run("ensure-docker.sh", path=fake_path(tmp_path, {}), tmp_path=tmp_path)
    assert result.returncode == 1
    assert "Docker is not installed" in result.stderr
    assert "apt-get install docker.io" in result.stderr


def test_a_dockerd_that_does_not_come_up_fails_with_its_log(tmp_path):
    path = fake_path(
        tmp_path,
        {
            "docker": "exit 1",
            "dockerd": 'echo "failed to start daemon: fake reason"; exit 1',
        },
    )
    result = run("ensure-docker.sh", path=path, tmp_path=tmp_path, LLMFLEET_DOCKERD_WAIT_S="2")
    assert result.returncode == 1
    assert "did not answer within 2 s" in result.stderr
    assert "failed to start daemon: fake reason" in result.stderr


def test_an_installed_dockerd_that_is_not_running_is_started(tmp_path):
    marker = tmp_path / "started"
    path = fake_path(
        tmp_path,
        {
            "docker": f'[ "$1" = info ] && [ -e {marker} ]',
            "dockerd": f"sleep 1; touch {marker}; sleep 30",
        },
    )
    result = run("ensure-docker.sh", path=path, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "starting dockerd" in result.stdout and "dockerd is up" in result.stdout


def test_an_unreachable_docker_host_is_not_papered_over(tmp_path):
    path = fake_path(tmp_path, {"docker": "exit 1", "dockerd": "touch started; exit 1"})
    result = run("ensure-docker.sh", path=path, tmp_path=tmp_path, DOCKER_HOST="tcp://10.0.0.1:2375")
    assert result.returncode == 1
    assert "DOCKER_HOST=tcp://10.0.0.1:2375 does not answer" in result.stderr
    assert not (tmp_path / "started").exists()


def test_the_image_build_stops_before_debootstrap_without_docker(tmp_path):
    calls = tmp_path / "debootstrap-calls"
    path = fake_path(tmp_path, {"debootstrap": f"echo called >> {calls}"})
    result = run("build-images.sh", path=path, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "apt-get install docker.io" in result.stderr
    assert not calls.exists()


@pytest.mark.parametrize("name", ["", "bogus", "../testbed/router-host"])
def test_a_host_image_without_a_recipe_folder_is_refused_before_docker(tmp_path, name):
    calls = tmp_path / "docker-calls"
    path = fake_path(tmp_path, {"docker": f'echo "$@" >> {calls}'})
    result = run("build-host-image.sh", *([name] if name else []), path=path, tmp_path=tmp_path)
    assert result.returncode == 2
    assert "holds packages and customize.sh (router-host, registry-host); got '%s'" % name in result.stderr
    assert not calls.exists()


def test_an_unknown_gpu_kind_lists_the_known_ones_and_touches_no_host(tmp_path):
    calls = tmp_path / "docker-calls"
    path = fake_path(tmp_path, {"docker": f'echo "$@" >> {calls}'})
    result = run("prepare-host.sh", "some-host", "b200x9", path=path, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "no GPU description 'b200x9'" in result.stderr
    assert "b200x8" in result.stderr and "h100x8" in result.stderr
    assert not calls.exists()


@pytest.mark.parametrize(
    "file_name, sources, expected",
    [
        (
            "sources.list.d/debian.sources",
            "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n"
            "\nTypes: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n",
            "http://mirror.example/debian",
        ),
        (
            "sources.list",
            "deb http://security.example/debian-security bookworm-security main\n"
            "deb [arch=amd64] http://old.example/debian bookworm main\n",
            "http://old.example/debian",
        ),
    ],
)
def test_the_mirror_comes_from_apt_unless_overridden(tmp_path, file_name, sources, expected):
    """debootstrap is called with the mirror of apt's sources, or LLMFLEET_TESTBED_MIRROR."""
    (tmp_path / "apt" / "sources.list.d").mkdir(parents=True)
    (tmp_path / "apt" / file_name).write_text(sources)
    calls = tmp_path / "debootstrap-calls"
    path = fake_path(
        tmp_path,
        {
            "docker": "exit 1",  # no image yet; the build stops after debootstrap fails
            "debootstrap": f'echo "$@" >> {calls}; exit 1',
        },
    )
    packages = TESTBED / "engine" / "base-packages"
    for env, mirror in (
        ({}, expected),
        ({"LLMFLEET_TESTBED_MIRROR": "http://override.example/debian"}, "http://override.example/debian"),
    ):
        calls.unlink(missing_ok=True)
        result = run(
            "lib/debootstrap-image.sh",
            "t/x:latest",
            str(packages),
            path=path,
            tmp_path=tmp_path,
            LLMFLEET_TESTBED_APT_DIR=str(tmp_path / "apt"),
            LLMFLEET_NET_DELAY_S="0",
            **env,
        )
        assert result.returncode == 1 and "debootstrap of t/x:latest failed" in result.stderr
        assert calls.read_text().split()[-1] == mirror
        assert "--include=python3,python3-aiohttp,python3-uvloop,curl,ca-certificates" in calls.read_text()
