# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""openai_verify's run: ``verify(params) -> result``: check the options, wait for readiness
(``_watch``), run the contract checks (``_contract``) in order, and report.

Runs on GPU hosts, so only the standard library is used.
"""

from __future__ import annotations

import time

from ansible_collections.llmfleet.serving.plugins.module_utils._contract import Checks
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import VerifyError
from ansible_collections.llmfleet.serving.plugins.module_utils._http import Client, Unreachable
from ansible_collections.llmfleet.serving.plugins.module_utils._secrets import mask_secret, scrub
from ansible_collections.llmfleet.serving.plugins.module_utils._watch import ContainerWatch, UnitWatch, wait_ready

DEFAULT_CHECKS = ("health", "models", "chat", "chat_stream")
OPTIONAL_CHECKS = ("auth", "tools", "reasoning", "anthropic")
ALL_CHECKS = DEFAULT_CHECKS + OPTIONAL_CHECKS


def report_entry(name, passed, latency_s, detail):
    """One line of the report, as documented in the module's RETURN."""
    return {
        "name": name,
        "passed": bool(passed),
        "latency_ms": None if latency_s is None else round(latency_s * 1000.0, 1),
        "detail": detail,
    }


def summarize_report(report, ready_after_s):
    """One line for the task's msg: ``5/5 checks passed (health 2 ms, ...) after 12.3 s of loading``."""
    passed = [e for e in report if e["passed"]]
    parts = ", ".join(
        "%s %s ms" % (e["name"], "?" if e["latency_ms"] is None else "%g" % e["latency_ms"]) for e in report
    )
    return "%d/%d checks passed (%s); ready after %.1f s" % (len(passed), len(report), parts, ready_after_s or 0.0)


def resolve_checks(checks, api_key):
    """The checks to run, in order, without duplicates. None: the defaults (+ auth with a key)."""
    if checks is None:
        chosen = list(DEFAULT_CHECKS) + (["auth"] if api_key else [])
    else:
        chosen = []
        for name in checks:
            if name not in ALL_CHECKS:
                raise VerifyError(
                    "checks has %r, which is not a check; the checks are %s" % (name, ", ".join(ALL_CHECKS))
                )
            if name not in chosen:
                chosen.append(name)
        if not chosen:
            raise VerifyError(
                "checks is an empty list: leave it out for the defaults (%s), or name checks from %s"
                % (", ".join(DEFAULT_CHECKS), ", ".join(ALL_CHECKS))
            )
    if "auth" in chosen and not api_key:
        raise VerifyError(
            "checks has 'auth' but api_key is not set: the auth check proves that requests without "
            "the key are refused, so it needs the key (api_key, the role's verify_api_key)"
        )
    return chosen


def normalize_base_url(base_url):
    """(root URL, warnings). Accepts the OpenAI-style URL ending in /v1 and drops that part."""
    warnings = []
    url = (base_url or "").strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise VerifyError(
            "base_url %r is not an http:// or https:// URL; give the server root, for example "
            "http://127.0.0.1:8000" % base_url
        )
    if url.endswith("/v1"):
        url = url[:-3]
        warnings.append(
            "base_url %r ends in /v1; using the server root %s (the module adds /v1/... itself)" % (base_url, url)
        )
    host = url.split("://", 1)[1].split("/", 1)[0]
    if not host:
        raise VerifyError("base_url %r has no host; for example http://127.0.0.1:8000" % base_url)
    return url, warnings


def verify(params, run_command=None, bin_path=None, clock=time.monotonic, sleep=time.sleep):
    """Wait for readiness, run the checks, return the module result (without ``changed``).

    ``run_command(argv) -> (rc, stdout, stderr)`` and ``bin_path(name) -> path or None`` come from
    the module (AnsibleModule.run_command / get_bin_path); only the unit/container watches use them.
    Raises VerifyError (with ``report`` in its details once checks ran) at the first broken check.
    """
    api_key = params.get("api_key") or None
    base_url, warnings = normalize_base_url(params["base_url"])
    checks = resolve_checks(params.get("checks"), api_key)
    for name in ("timeout", "request_timeout", "poll_interval", "max_tokens"):
        value = params.get(name)
        if value is None or value <= 0:
            raise VerifyError("%s must be greater than 0, got %r" % (name, value))
    if params.get("unhealthy_grace") is None or params["unhealthy_grace"] < 0:
        raise VerifyError("unhealthy_grace must be 0 or more seconds, got %r" % params.get("unhealthy_grace"))
    served = params["served_model_name"]
    if not served or not str(served).strip():
        raise VerifyError(
            "served_model_name is empty: give the name the server serves (the plan's served_model_name, "
            "for example 'deepseek')"
        )

    watches = []
    if params.get("unit"):
        systemctl, journalctl = bin_path("systemctl"), bin_path("journalctl")
        if not systemctl or not journalctl:
            raise VerifyError(
                "unit=%r but this host has no systemctl/journalctl: run the module on the host that runs "
                "the unit (not delegated elsewhere), or leave unit out" % params["unit"]
            )
        watches.append(UnitWatch(params["unit"], run_command, systemctl, journalctl, secret=api_key))
    if params.get("container"):
        cli_name = params.get("container_cli") or "docker"
        cli = bin_path(cli_name)
        if not cli:
            raise VerifyError(
                "container=%r but %s is not on this host's PATH: run the module on the host that runs the "
                "container, set container_cli, or leave container out" % (params["container"], cli_name)
            )
        watches.append(ContainerWatch(params["container"], run_command, cli, secret=api_key))

    client = Client(
        base_url,
        api_key,
        float(params["request_timeout"]),
        params.get("validate_certs", True),
        params.get("use_proxy", False),
        clock=clock,
    )
    runner = Checks(client, served, int(params["max_tokens"]), clock=clock)

    common = {
        "base_url": base_url,
        "served_model_name": served,
        "checks": checks,
        "warnings": warnings,
        "api_key_masked": mask_secret(api_key) or None,
    }
    waiting_since = clock()
    try:
        readiness = wait_ready(
            client,
            float(params["timeout"]),
            float(params["poll_interval"]),
            float(params["unhealthy_grace"]),
            watches,
            clock=clock,
            sleep=sleep,
            key_hint=runner.http_problem,
        )
    except VerifyError as exc:
        exc.details.update(common, report=[], ready_after_s=None, failed_check="readiness", failed_at=time.time())
        exc.details.setdefault("waited_s", round(clock() - waiting_since, 3))
        raise
    runner.readiness = readiness

    report = []
    for name in checks:
        started = clock()
        if name == "health":
            report.append(report_entry(name, True, readiness["latency_s"], runner.health()))
            continue
        try:
            detail = getattr(runner, name)()
        except (VerifyError, Unreachable) as exc:
            why = exc.msg if isinstance(exc, VerifyError) else "no answer: %s" % exc
            why = scrub(why, api_key)
            report.append(report_entry(name, False, clock() - started, why))
            details = dict(getattr(exc, "details", {}) or {})
            details.update(
                common,
                report=report,
                ready_after_s=round(readiness["ready_after_s"], 3),
                ready_at=readiness["ready_at"],
                failed_check=name,
            )
            raise VerifyError("%s check failed: %s" % (name, why), **details) from exc
        report.append(report_entry(name, True, clock() - started, scrub(detail, api_key)))

    result = dict(common)
    result.update(
        report=report,
        ready_after_s=round(readiness["ready_after_s"], 3),
        ready_at=readiness["ready_at"],
        polls=readiness["polls"],
        passed=True,
        msg="%s at %s" % (summarize_report(report, readiness["ready_after_s"]), base_url),
    )
    return result
