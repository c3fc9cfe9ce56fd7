"""The emulator's own switches: EMULATOR_* environment variables (README lists them all).

The real engines have no such flags, so they never appear on the engine command line; the
``python3 -m llmfleet_emulator`` wrapper has a few options before the engine word that set the
same variables.
"""

from __future__ import annotations

import dataclasses
import math
import os


class SettingsError(ValueError):
    pass


@dataclasses.dataclass
class Faults:
    exit_during_load: bool = False
    never_ready: bool = False
    exit_after_requests: int = None
    dead_after_requests: int = None
    http500_fraction: float = 0.0
    stall_after_chunks: int = None
    stop_early: int = None
    ignore_ignore_eos: bool = False
    no_detokenize: bool = False

    def active(self):
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) not in (None, False, 0.0)]


@dataclasses.dataclass
class Settings:
    load_seconds: float = 2.0
    warmup_seconds: float = 0.0
    time_scale: float = 1.0
    seed: int = 0
    trace_file: str = ""
    workers: int = 1
    use_uvloop: bool = True
    faults: Faults = dataclasses.field(default_factory=Faults)


def _get(environ, name, kind, default, minimum=None, maximum=None, positive=False):
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    raw = raw.strip()
    try:
        if kind is bool:
            low = raw.lower()
            if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError
            return low in ("1", "true", "yes", "on")
        value = kind(float(raw)) if kind is int else kind(raw)
        if kind is int and str(value) != raw.lstrip("+") and float(raw) != value:
            raise ValueError
    except ValueError:
        what = {bool: "0 or 1", int: "a whole number", float: "a number"}[kind]
        raise SettingsError("%s=%r is not %s" % (name, raw, what)) from None
    if kind is float and math.isnan(value):
        raise SettingsError("%s=%r is not a number" % (name, raw))
    if positive and value <= 0:
        raise SettingsError("%s=%r must be greater than 0" % (name, raw))
    if minimum is not None and value < minimum:
        raise SettingsError("%s=%r must be at least %s" % (name, raw, minimum))
    if maximum is not None and value > maximum:
        raise SettingsError("%s=%r must be at most %s" % (name, raw, maximum))
    return value


def from_env(engine, environ=None):
    env = os.environ if environ is None else environ
    faults = Faults(
        exit_during_load=_get(env, "EMULATOR_FAULT_EXIT_DURING_LOAD", bool, False),
        never_ready=_get(env, "EMULATOR_FAULT_NEVER_READY", bool, False),
        exit_after_requests=_get(env, "EMULATOR_FAULT_EXIT_AFTER_REQUESTS", int, None, minimum=0),
        dead_after_requests=_get(env, "EMULATOR_FAULT_DEAD_AFTER_REQUESTS", int, None, minimum=0),
        http500_fraction=_get(env, "EMULATOR_FAULT_HTTP500_FRACTION", float, 0.0, minimum=0.0, maximum=1.0),
        stall_after_chunks=_get(env, "EMULATOR_FAULT_STALL_AFTER_CHUNKS", int, None, minimum=0),
        stop_early=_get(env, "EMULATOR_FAULT_STOP_EARLY", int, None, minimum=1),
        ignore_ignore_eos=_get(env, "EMULATOR_FAULT_IGNORE_IGNORE_EOS", bool, False),
        no_detokenize=_get(env, "EMULATOR_FAULT_NO_DETOKENIZE", bool, False),
    )
    return Settings(
        load_seconds=_get(env, "EMULATOR_LOAD_SECONDS", float, 2.0, minimum=0.0),
        # SGLang opens its port, then runs a warm-up request while /health says 503.
        warmup_seconds=_get(env, "EMULATOR_WARMUP_SECONDS", float, 0.5 if engine == "sglang" else 0.0, minimum=0.0),
        time_scale=_get(env, "EMULATOR_TIME_SCALE", float, 1.0, positive=True),
        seed=_get(env, "EMULATOR_SEED", int, 0),
        trace_file=env.get("EMULATOR_TRACE_FILE", "").strip(),
        workers=_get(env, "EMULATOR_WORKERS", int, 1, minimum=1, maximum=256),
        use_uvloop=_get(env, "EMULATOR_UVLOOP", bool, True),
        faults=faults,
    )
