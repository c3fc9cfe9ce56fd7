# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Watching an engine while it loads: readiness (``wait_ready`` polls ``/health``) and the process
behind it (:class:`UnitWatch` for a systemd unit, :class:`ContainerWatch` for a container), which fail
fast with the tail of the journal or the container log when the engine died instead of loading.

Shared by openai_verify's readiness wait and anything else that must wait for a server to come up
(the serve role's wait, a rollout). ``run(argv) -> (rc, stdout, stderr)`` is the module's
``run_command``; only the standard library is used.
"""

from __future__ import annotations

import time

from ansible_collections.llmfleet.serving.plugins.module_utils._errors import VerifyError
from ansible_collections.llmfleet.serving.plugins.module_utils._http import Unreachable
from ansible_collections.llmfleet.serving.plugins.module_utils._secrets import scrub

JOURNAL_LINES = 30
# A connect that hangs (packets dropped) must not eat the whole readiness wait.
PROBE_TIMEOUT_MAX = 10.0


def tail(text, lines=JOURNAL_LINES):
    return "\n".join((text or "").rstrip().splitlines()[-lines:])


class UnitWatch:
    """Fails fast when the systemd unit that runs the engine has stopped, failed or is restarting."""

    def __init__(self, unit, run, systemctl, journalctl, secret=None):
        self.unit = unit
        self.run = run
        self.systemctl = systemctl
        self.journalctl = journalctl
        self.secret = secret
        self.state = None

    def describe(self):
        return "unit %s %s" % (self.unit, self.state or "not checked")

    def check(self, waited_s):
        rc, out, err = self.run([self.systemctl, "is-active", self.unit])
        state = (out or "").strip().splitlines()[-1:] or [""]
        state = state[0] or "unknown"
        if state == "activating":
            _rc, sub, _err = self.run([self.systemctl, "show", "-p", "SubState", "--value", self.unit])
            if (sub or "").strip() == "auto-restart":
                state = "activating (auto-restart)"
        self.state = state
        if state in ("failed", "inactive", "activating (auto-restart)"):
            why = {
                "failed": "the engine exited with an error",
                "inactive": "nothing runs the engine: it exited cleanly or was stopped, never started, or there is no unit of that name",
                "activating (auto-restart)": "the engine exited and systemd is waiting to restart it",
            }[state]
            rc_j, journal, jerr = self.run([self.journalctl, "-u", self.unit, "-n", str(JOURNAL_LINES), "--no-pager"])
            journal = scrub(tail(journal), self.secret)
            if not journal.strip():
                journal = "(journalctl printed nothing%s)" % (": " + scrub(jerr.strip(), self.secret) if jerr else "")
            raise VerifyError(
                "systemd unit %s is %s after %.1f s of waiting for the server: %s. Last %d lines of "
                "journalctl -u %s:\n%s" % (self.unit, state, waited_s, why, JOURNAL_LINES, self.unit, journal),
                unit_state=state,
                journal=journal.splitlines(),
            )


class ContainerWatch:
    """Fails fast when the engine's container has exited (or vanished after running)."""

    def __init__(self, name, run, cli, secret=None):
        self.name = name
        self.run = run
        self.cli = cli
        self.secret = secret
        self.seen_running = False
        self.state = None

    def describe(self):
        return "container %s %s" % (self.name, self.state or "not checked")

    def _fail(self, state, waited_s, why):
        _rc, out, err = self.run([self.cli, "logs", "--tail", str(JOURNAL_LINES), self.name])
        logs = scrub(tail((out or "") + (err or "")), self.secret)
        raise VerifyError(
            "container %s is %s after %.1f s of waiting for the server: %s. Last %d lines of %s logs %s:\n%s"
            % (self.name, state, waited_s, why, JOURNAL_LINES, self.cli, self.name, logs or "(no output)"),
            container_state=state,
            journal=logs.splitlines(),
        )

    def check(self, waited_s):
        rc, out, err = self.run([self.cli, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.name])
        if rc != 0:
            if self.seen_running:
                self.state = "gone"
                raise VerifyError(
                    "container %s was running and is gone after %.1f s of waiting for the server: the engine exited "
                    "and the container was removed (docker run --rm); read the unit's journal or the engine's log"
                    % (self.name, waited_s),
                    container_state="gone",
                )
            # Not created yet: the unit may still be pulling the image.
            self.state = "not created yet"
            return
        fields = (out or "").split()
        status = fields[0] if fields else "unknown"
        code = fields[1] if len(fields) > 1 else "?"
        self.state = status
        if status == "running":
            self.seen_running = True
        elif status in ("exited", "dead"):
            self._fail("%s (exit code %s)" % (status, code), waited_s, "the engine exited")
        elif status == "restarting":
            self._fail(
                "restarting (last exit code %s)" % code, waited_s, "the engine exited and the runtime restarts it"
            )


# ---- readiness ---------------------------------------------------------------------------------


def wait_ready(
    client, timeout, poll_interval, unhealthy_grace, watches=(), clock=time.monotonic, sleep=time.sleep, key_hint=None
):
    """Poll GET /health until it answers 200. Returns a dict: ready_after_s, polls, latency_s, ready_at.

    Refused/reset/timed-out connections mean "still loading" (vLLM and SGLang keep the port closed
    while loading). A 503 that lasts longer than ``unhealthy_grace`` means the engine died (vLLM);
    the grace covers SGLang's warm-up, during which it answers 503 right after opening the port.
    """
    start = clock()
    deadline = start + timeout
    polls = 0
    last = "no answer yet"
    first_503 = None
    probe_timeout = max(1.0, min(client.request_timeout, PROBE_TIMEOUT_MAX))
    url = client.url("/health")
    while True:
        for watch in watches:
            watch.check(clock() - start)
        polls += 1
        try:
            resp = client.request("GET", "/health", timeout=probe_timeout)
        except Unreachable as exc:
            last = str(exc)
            first_503 = None
        else:
            if resp.status == 200:
                return {
                    "ready_after_s": clock() - start,
                    "polls": polls,
                    "latency_s": resp.elapsed,
                    "ready_at": time.time(),
                }
            if resp.status == 503:
                now = clock()
                first_503 = now if first_503 is None else first_503
                last = "503 Service Unavailable"
                if now - first_503 >= unhealthy_grace:
                    raise VerifyError(
                        "GET %s answers 503 Service Unavailable (for %.1f s, after %.1f s of waiting): the engine died "
                        "behind a live HTTP server (vLLM answers 503 when its engine core is dead). Read the engine's "
                        "log (journalctl -u UNIT, docker logs NAME) and restart the server"
                        % (url, now - first_503, now - start),
                        health_status=503,
                    )
            elif resp.status in (502, 504):
                last = "%d from a proxy in front of the server" % resp.status
            elif resp.status == 401:
                raise VerifyError(key_hint("GET", "/health", resp) if key_hint else "GET %s answered 401" % url)
            else:
                raise VerifyError(
                    "GET %s answered %d (%s): this is not the health endpoint of a vLLM or SGLang server; "
                    "check base_url (the role's verify_base_url)" % (url, resp.status, resp.error_text()),
                    health_status=resp.status,
                )
        now = clock()
        if now >= deadline:
            watched = "; ".join(w.describe() for w in watches)
            raise VerifyError(
                "the server did not become ready within %g s: waited for GET %s to answer 200 (%d polls every %g s; "
                "last: %s%s). A large model can take up to an hour to load: raise timeout (the role's verify_timeout) "
                "if the engine is still loading, or read its log (journalctl -u UNIT, docker logs NAME)"
                % (timeout, url, polls, poll_interval, last, "; " + watched if watched else ""),
                waited_s=round(now - start, 3),
                polls=polls,
                last=last,
            )
        sleep(max(0.0, min(poll_interval, deadline - now)))
