# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keeping API keys out of what modules return and log: ``mask_secret`` and ``scrub``."""

from __future__ import annotations


def mask_secret(value):
    """A key as it may be shown: ``sk-…abcd`` for long keys, ``********`` for short ones.

    Short keys are hidden completely: their last four characters would give away too much.
    """
    if not value:
        return ""
    value = str(value)
    if len(value) < 16:
        return "********"
    prefix = ""
    for sep in ("-", "_"):
        pos = value.find(sep)
        if 0 < pos <= 3:
            prefix = value[: pos + 1]
            break
    return prefix + "\u2026" + value[-4:]


def scrub(text, secret):
    """``text`` with every occurrence of ``secret`` replaced by its mask."""
    if not secret or not text:
        return text
    return text.replace(secret, mask_secret(secret))
