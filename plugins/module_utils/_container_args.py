# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container options of a plan, derived in one place.

Three consumers need them: the plan's ``docker_run`` (the seed guide's copy-paste command), the serve
role's systemd unit (``docker run`` in the foreground) and its podman quadlet ([Container] keys). Each
function below reads only the plan's hashed keys (``container``, ``env``, ``image``, ``secrets``,
``hash``) and ``stop_timeout_s``, never a precomputed list: plans recorded in a host's local facts by
an older release (``rollout_rollback`` re-renders them) lack any new key and must render the same.

The three orders differ on purpose and must stay as they are: ``docker_run`` is the seed's command
token for token (tests/unit/plugins/module_utils/test_plan_golden.py), and the unit and quadlet are
byte-identical to what earlier releases wrote (a changed unit restarts a server that may take an hour
to load; tests/unit/roles/test_container_options.py).

The serve role's templates only quote what these functions return (plugins/filter/unit_quote.py);
the role passes in what only it knows (the secret files' paths, whether a secret is set, the restart
key), never a secret itself. Standard library only (modules on GPU hosts import _plan).
"""

from __future__ import annotations

# Seconds docker stop -t / podman --stop-timeout give the engine between SIGTERM and SIGKILL: room for
# vLLM's --shutdown-timeout below it and for SGLang's drain of running requests.
STOP_TIMEOUT_S = 60
# systemd's TimeoutStopSec= is this much longer, so that systemd never kills the container CLI while
# docker/podman are still waiting for the engine (or removing the container after SIGKILL).
UNIT_STOP_MARGIN_S = 30

# Quoting of each quadlet key (the filter the template applies): the generator splits some keys into
# words (systemd_word) and passes the others to podman as one argument without unquoting (quadlet_value).
QUADLET_ONE_ARGUMENT = ("Image", "ContainerName", "AddDevice", "Network", "PublishPort", "Volume")


def stop_timeouts(plan):
    """(container stop timeout, systemd TimeoutStopSec) in seconds. A plan from before stop_timeout_s
    existed gets the value every release used until then (60), so its unit renders unchanged."""
    stop = plan.get("stop_timeout_s")
    if stop is None:
        stop = STOP_TIMEOUT_S
    stop = int(stop)
    return stop, stop + UNIT_STOP_MARGIN_S


def seed_docker_run(container, env, image, command):
    """The seed guide's ``docker run -d ...`` for a plan's parts: no name, no secrets, no labels. Order:
    --gpus, --ipc, --shm-size, --network, -p, -e (plan order), -v, image, command."""
    argv = ["docker", "run", "-d", "--gpus", container["gpus"], "--ipc=" + container["ipc"]]
    if container.get("shm_size"):
        argv.extend(["--shm-size", container["shm_size"]])
    if container.get("network"):
        argv.extend(["--network", container["network"]])
    for port_map in container["ports"]:
        argv.extend(["-p", port_map])
    for key, value in env.items():
        argv.extend(["-e", "%s=%s" % (key, value)])
    for volume in container["volumes"]:
        argv.extend(["-v", volume])
    argv.append(image)
    argv.extend(command)
    return argv


def _secret_mounts(plan, hf_token, hf_token_file, api_key, env_file):
    """[(kind, value, field)] of the secrets the container gets: the HF token file mounted read-only
    with the variable naming its path, and the env file that carries the API key (when the engine
    reads it from its environment; an engine that takes it as an argument gets it after the command)."""
    out = []
    secrets = plan.get("secrets") or {}
    if hf_token:
        hf = secrets["hf_token"]
        out.append(("volume", "%s:%s:ro" % (hf_token_file, hf["mount"]), "serve_secrets_dir (the HF token file)"))
        out.append(("env", "%s=%s" % (hf["env"], hf["mount"]), "plan secrets.hf_token"))
    if api_key and (secrets.get("api_key") or {}).get("via") == "env":
        out.append(("env_file", env_file, "serve_secrets_dir (the env file)"))
    return out


def _labels(plan, restart_key):
    return [
        ("llmfleet.plan-hash=%s" % plan["hash"], "plan hash"),
        ("llmfleet.restart-key=%s" % restart_key, "restart key"),
    ]


def unit_run_args(plan, hf_token=False, hf_token_file="", api_key=False, env_file="", restart_key=""):
    """The ``docker run`` arguments (after the CLI, before the image) of the serve role's unit: in the
    foreground (--rm, no -d), named, with the secrets and the plan-hash/restart-key labels. Order:
    --name, --gpus, --ipc, --network, --shm-size, -p, -v, -e (sorted), secrets, labels."""
    c = plan["container"]
    argv = ["run", "--rm", "--name", c["name"], "--gpus", c["gpus"], "--ipc=" + c["ipc"]]
    # A packed replica's gpus is "device=0,1,2,3" with the double quotes docker needs; a cell rank
    # shares the host's network and publishes no ports.
    if c.get("network"):
        argv.extend(["--network", c["network"]])
    if c.get("shm_size"):
        argv.extend(["--shm-size", c["shm_size"]])
    for port_map in c["ports"]:
        argv.extend(["-p", port_map])
    for volume in c["volumes"]:
        argv.extend(["-v", volume])
    for key in sorted(plan["env"]):
        argv.extend(["-e", "%s=%s" % (key, plan["env"][key])])
    flags = {"volume": "-v", "env": "-e", "env_file": "--env-file"}
    for kind, value, _field in _secret_mounts(plan, hf_token, hf_token_file, api_key, env_file):
        argv.extend([flags[kind], value])
    for label, _field in _labels(plan, restart_key):
        argv.extend(["--label", label])
    return argv


def _entry(key, value, field, comment=None):
    return {
        "key": key,
        # As given (not str()): the quoting filter refuses None, a boolean or a list, naming the field.
        "value": value,
        "field": field,
        "quote": "quadlet_value" if key in QUADLET_ONE_ARGUMENT else "systemd_word",
        "comment": comment,
    }


def quadlet_container(plan, hf_token=False, hf_token_file="", api_key=False, env_file="", restart_key=""):
    """The [Container] keys of the serve role's quadlet before Exec=, in order: a list of
    {key, value, field (named in a quoting error), quote (the filter: quadlet_value or systemd_word),
    comment (a line written above the key, or None)}."""
    c = plan["container"]
    out = [
        _entry("Image", plan["image"], "serve_image"),
        _entry("ContainerName", c["name"], "serve_container_name"),
    ]
    if c["gpus"] == "all":
        out.append(
            _entry(
                "AddDevice",
                "nvidia.com/gpu=all",
                "plan container.gpus",
                "All GPUs through CDI (nvidia-ctk cdi generate), the podman equivalent of docker's --gpus all.",
            )
        )
    else:
        for i, gpu in enumerate(c["gpu_ids"]):
            comment = 'The GPUs this replica owns through CDI, one device each (docker: --gpus "device=...").'
            out.append(
                _entry("AddDevice", "nvidia.com/gpu=%s" % gpu, "plan container.gpu_ids", comment if i == 0 else None)
            )
    if c.get("network"):
        out.append(_entry("Network", c["network"], "plan container.network"))
    out.append(_entry("PodmanArgs", "--ipc=" + c["ipc"], "plan container.ipc"))
    if c.get("shm_size"):
        out.append(_entry("PodmanArgs", "--shm-size=" + c["shm_size"], "plan container.shm_size"))
    # podman's own default is 10 s, which would cut the engine's graceful drain: the docker unit's value.
    out.append(_entry("PodmanArgs", "--stop-timeout=%d" % stop_timeouts(plan)[0], "plan stop_timeout_s"))
    for port_map in c["ports"]:
        out.append(_entry("PublishPort", port_map, "plan container.ports"))
    for volume in c["volumes"]:
        out.append(_entry("Volume", volume, "plan container.volumes (serve_hf_cache_dir)"))
    for key in sorted(plan["env"]):
        out.append(_entry("Environment", "%s=%s" % (key, plan["env"][key]), "plan env (serve_env) " + key))
    keys = {"volume": "Volume", "env": "Environment", "env_file": "EnvironmentFile"}
    for kind, value, field in _secret_mounts(plan, hf_token, hf_token_file, api_key, env_file):
        out.append(_entry(keys[kind], value, field))
    for label, field in _labels(plan, restart_key):
        out.append(_entry("Label", label, field))
    return out


def container_options(plan, hf_token=False, hf_token_file="", api_key=False, env_file="", restart_key=""):
    """What the serve role's templates write: {run: the unit's docker run arguments, quadlet: the
    quadlet's [Container] entries, stop_timeout: seconds for docker stop -t / podman --stop-timeout,
    unit_stop_timeout: systemd's TimeoutStopSec=}."""
    kw = dict(
        hf_token=hf_token, hf_token_file=hf_token_file, api_key=api_key, env_file=env_file, restart_key=restart_key
    )
    stop, unit_stop = stop_timeouts(plan)
    return {
        "run": unit_run_args(plan, **kw),
        "quadlet": quadlet_container(plan, **kw),
        "stop_timeout": stop,
        "unit_stop_timeout": unit_stop,
    }
