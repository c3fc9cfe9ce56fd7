# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner's profile schema: what a profile (built-in or the user's) must hold, checked
before anything is planned from it, and the lookup of a model's profile.

Part of the serving planner (_plan.build_plan); pure and standard-library only, as _plan is.
"""

from __future__ import annotations

import copy
import json
import re

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import PlanError
from ansible_collections.llmfleet.serving.plugins.module_utils._names import (
    control_character,
    show,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._profiles import (
    ENGINES,
    PROFILES,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._references import (
    image_problem,
)

_REQUIRED_PLACEHOLDERS = ("{model_id}", "{served_model_name}", "{tensor_parallel_size}")
# Hugging Face repository ids (huggingface_hub's validate_repo_id): ORG/NAME, at most 96 characters each.
_MODEL_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$", re.ASCII)

# ---------------------------------------------------------------------------------------------
# Profile validation: the schema of a profile, as data. Each spec is a type name, or
# ("dict", {key: (spec, required)}), ("map", spec) (any string keys) or ("list", spec).
# ---------------------------------------------------------------------------------------------
_MATCH_KEYS = {
    "products": (("list", "str"), False),
    "architectures": (("list", "str"), False),
    "compute_capabilities": (("list", "str"), False),
}
_DEPLOYMENT_SPEC = (
    "dict",
    dict(
        _MATCH_KEYS,
        name=("str", True),
        engine=("str", True),
        refuse=("str", False),
        build=("str", False),
        image=("str", False),
        tensor_parallel_size=("int", False),
        mem_fraction=("number", False),
        env=(("map", "str"), False),
        command=(("list", "str"), False),
        speculative_args=(("list", "str"), False),
        speculative_default=("bool", False),
        engine_version=("str", False),
        shm_size=("str_or_null", False),
        source=("str", False),
        note=("str", False),
    ),
)
# Keys a deployment that serves (has no `refuse`) must have.
_SERVING_KEYS = ("build", "image", "tensor_parallel_size", "mem_fraction", "command")
_PROFILE_SPEC = (
    "dict",
    {
        "description": ("str", False),
        "source": ("str", False),
        "note": ("str", False),
        "readiness": (
            (
                "dict",
                {
                    "health_path": ("str", True),
                    "models_path": ("str", True),
                    "timeout_s": ("int", True),
                },
            ),
            False,
        ),
        "kv_headroom_gb": ("number", False),
        "builds": (
            (
                "map",
                (
                    "dict",
                    {
                        "model_id": ("str", True),
                        "size_gb": ("number", True),
                        "label": ("str", False),
                        "source": ("str", False),
                        "note": ("str", False),
                    },
                ),
            ),
            True,
        ),
        "auto_engine": (
            (
                "map",
                (
                    "dict",
                    {
                        "prefer": (("list", "str"), True),
                        "reason": ("str", True),
                    },
                ),
            ),
            False,
        ),
        "unsupported": (
            ("list", ("dict", dict(_MATCH_KEYS, reason=("str", True), source=("str", False), note=("str", False)))),
            False,
        ),
        "deployments": (("list", _DEPLOYMENT_SPEC), True),
    },
)
_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "number": "a number",
    "bool": "a boolean",
    "str_or_null": "a string or null",
    "dict": "a mapping",
    "map": "a mapping",
    "list": "a list",
}


def _type_ok(value, kind):
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str_or_null":
        return value is None or isinstance(value, str)
    if kind in ("dict", "map"):
        return isinstance(value, dict)
    return isinstance(value, list)


def _describe(value):
    shown = json.dumps(value, sort_keys=True, default=str)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return "%s %s" % (type(value).__name__, shown)


def _check_spec(value, spec, path, where):
    kind = spec if isinstance(spec, str) else spec[0]
    if not _type_ok(value, kind):
        raise PlanError(
            "%s%s must be %s, found %s; see the built-in profile in plugins/module_utils/_profiles.py for the "
            "expected shape" % (where, (": key '%s'" % path) if path else "", _TYPE_WORDS[kind], _describe(value))
        )
    if kind == "dict":
        fields = spec[1]
        unknown = sorted(str(k) for k in value if k not in fields)
        if unknown:
            raise PlanError(
                "%s: key '%s%s' is not a known key; known keys there: %s"
                % (where, path + "." if path else "", unknown[0], ", ".join(sorted(fields)))
            )
        for key in sorted(fields):
            sub, required = fields[key]
            if key not in value:
                if required:
                    raise PlanError(
                        "%s: key '%s%s' is missing; it must be %s"
                        % (where, path + "." if path else "", key, _TYPE_WORDS[sub if isinstance(sub, str) else sub[0]])
                    )
                continue
            _check_spec(value[key], sub, (path + "." if path else "") + key, where)
    elif kind == "map":
        for key in sorted(value, key=str):
            if not isinstance(key, str):
                raise PlanError("%s: key '%s' has a non-string key %s" % (where, path, _describe(key)))
            _check_spec(value[key], spec[1], "%s.%s" % (path, key), where)
    elif kind == "list":
        for index, item in enumerate(value):
            _check_spec(item, spec[1], "%s[%d]" % (path, index), where)


def _check_control(value, path, where):
    """Refuse a control character in any string (key or value) of profile data, naming its path.

    Profile strings end up on command lines, in unit files and in env files, where a line break
    starts a new directive (issue 9: a model id with a newline added an ExecStartPre line)."""
    if isinstance(value, str):
        found = control_character(value)
        if found:
            raise PlanError(
                "%s: key '%s' holds a control character (%s) in %s; strings in a profile reach command lines "
                "and unit files, where a line break or tab starts something new, so control characters are "
                "refused: remove it" % (where, path or "(the profile)", found, show(value)),
                option="profiles",
            )
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            sub = "%s.%s" % (path, key) if path else str(key)
            if isinstance(key, str) and control_character(key):
                raise PlanError(
                    "%s: key %s under '%s' holds a control character (%s); keys and values of a profile "
                    "must not hold control characters: remove it"
                    % (where, show(key), path or "(the profile)", control_character(key)),
                    option="profiles",
                )
            _check_control(value[key], sub, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_control(item, "%s[%d]" % (path, index), where)


def validate_profile(name, profile):
    """Raise PlanError naming the profile, the key and the expected type when ``profile`` is malformed."""
    where = "profiles.%s" % name
    _check_control(profile, "", where)
    _check_spec(profile, _PROFILE_SPEC, "", where)
    builds = profile["builds"]
    for build_name in sorted(builds):
        model_id = builds[build_name]["model_id"]
        if not _MODEL_ID_RE.match(model_id) or ".." in model_id:
            raise PlanError(
                "%s: key 'builds.%s.model_id' %s is not a Hugging Face repository id; it must be ORG/NAME of "
                "letters, digits, '-', '_' and '.' (e.g. deepseek-ai/DeepSeek-V4-Flash), as the engine and the "
                "weights cache name it" % (where, build_name, show(model_id)),
                option="profiles",
            )
    names = set()
    for index, dep in enumerate(profile["deployments"]):
        path = "deployments[%d]" % index
        if dep["name"] in names:
            raise PlanError(
                "%s: key '%s.name': deployment name '%s' appears twice; names must be unique"
                % (where, path, dep["name"])
            )
        names.add(dep["name"])
        if dep["engine"] not in ENGINES:
            raise PlanError(
                "%s: key '%s.engine' is '%s'; it must be one of %s"
                % (where, path, dep["engine"], ", ".join(sorted(ENGINES)))
            )
        if not any(k in dep for k in _MATCH_KEYS):
            raise PlanError(
                "%s: key '%s' needs at least one of %s to say which GPUs it serves"
                % (where, path, ", ".join(sorted(_MATCH_KEYS)))
            )
        if "refuse" in dep:
            continue
        for key in _SERVING_KEYS:
            if key not in dep:
                raise PlanError(
                    "%s: key '%s.%s' is missing (needed unless the deployment has 'refuse')" % (where, path, key)
                )
        problem = image_problem(dep["image"])
        if problem:
            raise PlanError("%s: key '%s.image' %s %s" % (where, path, show(dep["image"]), problem), option="profiles")
        if dep["build"] not in builds:
            raise PlanError(
                "%s: key '%s.build' is '%s', which is not in builds (%s)"
                % (where, path, dep["build"], ", ".join(sorted(builds)))
            )
        if dep["tensor_parallel_size"] < 1:
            raise PlanError(
                "%s: key '%s.tensor_parallel_size' must be an integer >= 1, found %s"
                % (where, path, dep["tensor_parallel_size"])
            )
        if not 0 < dep["mem_fraction"] <= 1:
            raise PlanError(
                "%s: key '%s.mem_fraction' must be a number in (0, 1], found %s" % (where, path, dep["mem_fraction"])
            )
        for token in _REQUIRED_PLACEHOLDERS:
            if token not in dep["command"]:
                raise PlanError(
                    "%s: key '%s.command' must contain the token '%s' so the plan's value reaches "
                    "the engine" % (where, path, token)
                )
        if dep.get("speculative_args") and "{speculative}" not in dep["command"]:
            raise PlanError(
                "%s: key '%s.command' must contain the token '{speculative}' where speculative_args go" % (where, path)
            )
    for arch, entry in sorted(profile.get("auto_engine", {}).items()):
        for engine in entry["prefer"]:
            if engine not in ENGINES:
                raise PlanError(
                    "%s: key 'auto_engine.%s.prefer' names engine '%s'; it must be one of %s"
                    % (where, arch, engine, ", ".join(sorted(ENGINES)))
                )
    for index, entry in enumerate(profile.get("unsupported", [])):
        if not any(k in entry for k in _MATCH_KEYS):
            raise PlanError(
                "%s: key 'unsupported[%d]' needs at least one of %s" % (where, index, ", ".join(sorted(_MATCH_KEYS)))
            )


def _resolve_profile(model, profiles):
    known = dict(PROFILES)
    if profiles is not None:
        if not isinstance(profiles, dict):
            raise PlanError("profiles must be a mapping of profile name to profile, found %s" % _describe(profiles))
        for name in sorted(profiles, key=str):
            if not isinstance(name, str) or not name:
                raise PlanError("profiles: profile names must be non-empty strings, found %s" % _describe(name))
            try:
                validate_profile(name, profiles[name])
            except PlanError as exc:
                exc.details.setdefault("option", "profiles")
                raise
            known[name] = profiles[name]
    if not isinstance(model, str) or model not in known:
        raise PlanError(
            "model %s is not a known profile; known profiles: %s; add your own through the profiles option"
            % (
                show(model) if isinstance(model, str) and control_character(model) else "'%s'" % model,
                ", ".join(sorted(known)),
            ),
            option="model",
        )
    # The planner never hands out (or mutates) the module-level data.
    return copy.deepcopy(known[model])
