"""meta/execution-environment.yml builds an execution environment (AWX / Automation Controller) that holds
what the collection needs on the controller side, and tells ansible-builder the same when another EE
installs the collection.

Runs ``ansible-builder create`` (offline: it only writes the build context) and ``ansible-builder
introspect``. ansible-builder is pinned in requirements-dev.txt, so ``make venv`` installs it: a missing
one fails this test rather than skipping it.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from helpers.paths import ROOT


@pytest.fixture(scope="module")
def ansible_builder():
    beside_python = pathlib.Path(sys.executable).parent / "ansible-builder"
    found = str(beside_python) if beside_python.exists() else shutil.which("ansible-builder")
    if not found:
        pytest.fail("ansible-builder is not installed: `make venv` installs it (requirements-dev.txt pins it)")
    return found


def run(*args):
    result = subprocess.run(args, text=True, capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def requirement_names(lines):
    return {
        re.split(r"[<>=!~\[ ;#]", line.strip(), maxsplit=1)[0].lower()
        for line in lines
        if line.strip() and not line.lstrip().startswith("#")
    }


def test_the_build_context_installs_the_controller_side_dependencies(tmp_path, ansible_builder):
    context = tmp_path / "context"
    run(
        ansible_builder,
        "create",
        "-f",
        str(ROOT / "meta" / "execution-environment.yml"),
        "-c",
        str(context),
        "--output-filename",
        "Containerfile",
    )
    containerfile = (context / "Containerfile").read_text()
    # ansible-core is the version the tests run against; ansible-runner is what AWX drives the EE with.
    dev_pins = (ROOT / "requirements-dev.txt").read_text()
    core_pin = re.search(r"^ansible-core==\S+", dev_pins, re.M).group(0)
    assert re.search(rf'ANSIBLE_INSTALL_REFS="{re.escape(core_pin)} ansible-runner==[0-9.]+"', containerfile)
    # The Python and system requirements are copied into the context and handed to the install step.
    assert "COPY _build/requirements.txt requirements.txt" in containerfile
    assert "COPY _build/bindep.txt bindep.txt" in containerfile
    assert "--user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile
    python = (context / "_build" / "requirements.txt").read_text().splitlines()
    assert {"aiohttp", "uvloop"} <= requirement_names(python)
    system = (context / "_build" / "bindep.txt").read_text()
    assert "openssh-clients [platform:rpm]" in system


def test_the_benchmark_clients_aiohttp_is_a_declared_dependency():
    """The EE's aiohttp is the one llm_benchmark's client imports (a renamed import would leave the EE short)."""
    imports = set()
    for path in (ROOT / "plugins").rglob("*.py"):
        imports |= set(re.findall(r"^\s*(?:import|from) (aiohttp|uvloop)\b", path.read_text(), re.M))
    declared = requirement_names((ROOT / "meta" / "requirements.txt").read_text().splitlines())
    assert "aiohttp" in imports
    assert imports <= declared


def test_another_ee_that_installs_the_collection_gets_its_dependencies(tmp_path, ansible_builder):
    """ansible-builder's introspection reads meta/execution-environment.yml of each installed collection and
    resolves its dependency files from the collection root (requirements.txt, bindep.txt there)."""
    collections = tmp_path / "collections"
    (collections / "ansible_collections" / "llmfleet").mkdir(parents=True)
    os.symlink(ROOT, collections / "ansible_collections" / "llmfleet" / "serving")
    out = run(ansible_builder, "introspect", str(collections)).stdout
    data = yaml.safe_load(out[out.index("---") :])
    assert {"aiohttp", "uvloop"} <= requirement_names(data["python"])
    assert all(line.endswith("# from collection llmfleet.serving") for line in data["python"] + data["system"])
    assert any(line.startswith("openssh-client [platform:dpkg]") for line in data["system"])
