# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exceptions for problems a user can act on.

Logic in module_utils raises these; each module turns them into ``fail_json`` in one place,
so every failure reads the same way: what was found, why it cannot work, what would.
"""

from __future__ import annotations


class LlmfleetError(Exception):
    """A problem the user can act on. ``str(exc)`` is the whole message."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


class GpuDetectionError(LlmfleetError):
    """The host's GPUs could not be read, or are unusable as found."""


class PlanError(LlmfleetError):
    """No serving plan can satisfy the inputs."""


class VerifyError(LlmfleetError):
    """The endpoint does not honour the contract."""


class BenchmarkError(LlmfleetError):
    """A benchmark could not run or produced no valid result."""
