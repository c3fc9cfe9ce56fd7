# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner's engine command line: the profile's command template filled in, the environment
merged, and the user's extra args checked against the flag catalog of the engine.

Part of the serving planner (_plan.build_plan); pure and standard-library only, as _plan is.
"""

from __future__ import annotations

import difflib
import json
import re
import shlex

from ansible_collections.llmfleet.serving.plugins.module_utils._engine_flags import ENGINE_FLAGS, PARSER_OPTIONS
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import PlanError
from ansible_collections.llmfleet.serving.plugins.module_utils._names import (
    control_character,
)
from ansible_collections.llmfleet.serving.plugins.module_utils._plan_profile import _describe
from ansible_collections.llmfleet.serving.plugins.module_utils._profiles import (
    ENGINES,
)

_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")


# ---------------------------------------------------------------------------------------------
# Command, env, extra args
# ---------------------------------------------------------------------------------------------
def _flag_key(token, engine):
    """Canonical name of a flag token, or None for a value. '--a_b=1' and '--no-a-b' both give '--a-b' (vLLM)."""
    if not token.startswith("-") or _NUMBER_RE.match(token) or token in ("-", "--"):
        return None
    name = token.split("=", 1)[0]
    data = ENGINES[engine]
    if data["flag_underscores_are_dashes"]:
        name = name[:2] + name[2:].replace("_", "-")
    if name.startswith("--no-"):
        name = "--" + name[5:]
    return data["flag_aliases"].get(name, name)


def _render_command(dep, values, speculative):
    command = []
    for token in dep["command"]:
        if token == "{speculative}":
            if speculative:
                command.extend(dep.get("speculative_args", []))
        elif token in values:
            command.append(values[token])
        else:
            command.append(token)
    return command


def _stringify(value, where, option):
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        raise PlanError(
            "%s: found %s; give a string (quote it in YAML, e.g. '1' or 'true') so the engine gets "
            "exactly that text" % (where, _describe(value)),
            option=option,
        )
    text = str(value)
    _refuse_control(text, where, option)
    return text


def _refuse_control(text, where, option):
    found = control_character(text) if isinstance(text, str) else None
    if found:
        raise PlanError(
            "%s: %s holds a control character (%s); the value reaches a command line and a unit "
            "file, where a line break or tab starts something new: remove it" % (where, _describe(text), found),
            option=option,
        )


def _merge_env(dep_env, user_env, engine):
    if user_env is None:
        user_env = {}
    if not isinstance(user_env, dict):
        raise PlanError(
            "env must be a mapping of variable name to value, found %s; write it as a YAML mapping, "
            "e.g. {NCCL_DEBUG: WARN}" % _describe(user_env),
            option="env",
        )
    merged = dict(dep_env)
    for key in sorted(user_env, key=str):
        if not isinstance(key, str) or not _ENV_NAME_RE.match(key):
            raise PlanError(
                "env: variable name %s is not valid; names are letters, digits and _ and do not "
                "start with a digit" % _describe(key),
                option="env",
            )
        if key in ENGINES[engine]["secret_env"]:
            raise PlanError(
                "env.%s: secrets never enter the plan (it is returned, logged and hashed); give the "
                "secret to the serve role, which passes it as plan.secrets describes" % key,
                option="env",
            )
        merged[key] = _stringify(user_env[key], "env.%s" % key, "env")
    return dict(sorted(merged.items()))


def _catalog(engine, dep):
    """(version, {flag: takes_value}, parser options) of the engine release the deployment runs."""
    version = dep.get("engine_version") or ENGINES[engine]["catalog_version"]
    flags = ENGINE_FLAGS.get(engine, {}).get(version)
    return version, flags, PARSER_OPTIONS.get(engine, {}).get(version, {})


def _catalog_name(token, options):
    """The option string the engine's parser looks up for ``token`` ('--max_num_seqs=4' -> '--max-num-seqs')."""
    name = token.split("=", 1)[0]
    if options.get("underscores_are_dashes") and name.startswith("--"):
        # vLLM's FlexibleArgumentParser rewrites '_' to '-' in long option names before parsing.
        name = "--" + name[2:].replace("_", "-")
    if options.get("dotted_keys") and name.startswith("--") and "." in name:
        # vLLM: '--attention-config.use_fp4_indexer_cache=True' sets one key of the JSON flag.
        name = name.split(".", 1)[0]
    return name


def _unknown_flag(token, flags, options):
    """None when the engine's parser accepts ``token``'s flag; else the closest known flags (maybe empty)."""
    name = _catalog_name(token, options)
    if name in flags:
        return None
    if options.get("allow_abbrev") and name.startswith("--") and "=" not in name:
        # SGLang's parser is plain argparse: a unique prefix of a long option is that option (the seed's
        # --speculative-algo is one); argparse refuses an ambiguous prefix, and so does this.
        matches = [f for f in flags if f.startswith(name) and f.startswith("--")]
        if len(matches) == 1:
            return None
        if len(matches) > 1:
            return sorted(matches)[:5]
    return difflib.get_close_matches(name, sorted(flags), n=3, cutoff=0.6)


def _check_extra_args(extra_args, command, engine, dep, allow_unknown_args=False):
    """Return (args, reason or None)."""
    if extra_args is None:
        return [], None
    if isinstance(extra_args, str):
        try:
            example = shlex.split(extra_args)
        except ValueError:
            example = extra_args.split()
        raise PlanError(
            "extra_args must be a list of strings, found %s: write it as a YAML list, e.g. %s (one item per "
            "token; a single string would reach the engine as one argument)"
            % (_describe(extra_args), json.dumps(example or ["--flag", "value"]).replace('"', "'")),
            option="extra_args",
        )
    if not isinstance(extra_args, list):
        raise PlanError(
            "extra_args must be a list of strings, found %s: write it as a YAML list, e.g. "
            "['--enable-prefix-caching']" % _describe(extra_args),
            option="extra_args",
        )
    args = [_stringify(a, "extra_args[%d]" % i, "extra_args") for i, a in enumerate(extra_args)]
    data = ENGINES[engine]
    present = {}
    for index, token in enumerate(command):
        key = _flag_key(token, engine)
        if key is not None and key not in present:
            following = command[index + 1] if index + 1 < len(command) else None
            shown = token
            if "=" not in token and following is not None and _flag_key(following, engine) is None:
                shown = "%s %s" % (token, following)
            present[key] = shown
    version, flags, parser_options = _catalog(engine, dep)
    for token in args:
        key = _flag_key(token, engine)
        if key is None:
            continue
        if key in [_flag_key(f, engine) for f in data["secret_flags"]]:
            raise PlanError(
                "extra_args: '%s' would put a secret on the command line and into the plan; give the "
                "API key to the serve role, which passes it to %s as plan.secrets.api_key says"
                % (token, data["label"]),
                option="extra_args",
            )
        option = data["flag_options"].get(key)
        if key in present:
            what = (
                ("set it through the %s option instead" % option)
                if option
                else ("to change it, override the profile's deployment through the profiles option")
            )
            raise PlanError(
                "extra_args: '%s' duplicates '%s' that deployment %s already sets; %s reads one value and silently "
                "drops the other, so a second copy is refused: %s"
                % (token, present[key], dep["name"], data["label"], what),
                option="extra_args",
            )
        if option:
            # Not on the command line yet (the engine's default applies), but the plan still owns it:
            # e.g. vLLM's port must match plan.port, which the container publishes and the checks probe.
            raise PlanError(
                "extra_args: '%s' is what the plan sets from its %s option; set it there instead, so "
                "the plan, the published port and the checks agree" % (token, option),
                option="extra_args",
            )
        if allow_unknown_args:
            continue
        # An engine exits at start on a flag its parser lacks; refusing here keeps a running server
        # from being replaced by one that crash-loops (issue 9).
        if flags is None:
            raise PlanError(
                "extra_args: cannot check '%s': there is no flag catalog for %s %s (deployment %s); catalogs: %s. "
                "Generate one with extensions/engine-flags/generate.py, or set allow_unknown_args: true to pass "
                "the flags unchecked"
                % (
                    token,
                    data["label"],
                    version,
                    dep["name"],
                    ", ".join(sorted(ENGINE_FLAGS.get(engine, {}))) or "none",
                ),
                option="extra_args",
            )
        close = _unknown_flag(token, flags, parser_options)
        if close is not None:
            raise PlanError(
                "extra_args: '%s' is not a flag of %s %s (the catalog in plugins/module_utils/_engine_flags.py, "
                "generated from the engine's own argument parser); %s. The engine would exit at start, so it is "
                "refused before the running server is touched; if the image's %s has this flag, set "
                "allow_unknown_args: true"
                % (
                    token,
                    data["label"],
                    version,
                    ("closest known flags: " + ", ".join(close)) if close else "no known flag is close to it",
                    data["label"],
                ),
                option="extra_args",
            )
    if not args:
        return args, None
    if allow_unknown_args:
        return args, "extra_args not checked against the flag catalog (allow_unknown_args: true)."
    return args, "extra_args checked against the flag catalog of %s %s." % (data["label"], version)
