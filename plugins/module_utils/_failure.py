# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way a module fails: ``fail_from_exception(module, exc)``.

Every module catches :class:`LlmfleetError` around its logic and hands it here, so a failure
reads the same from every module: ``msg`` is the error's message, its details (a benchmark's
partial ``result``, verify's ``report``, the GPU probe's output) are top-level result keys, and
``warnings`` found before the failure are shown as Ansible warnings instead of being lost.
"""

from __future__ import annotations

# fail_json sets these itself; a detail of the same name would make the call raise TypeError
# instead of failing the task with the message.
_RESERVED = ("msg", "failed", "changed")


def fail_from_exception(module, exc):
    """Fail the task with ``exc``'s message, details and warnings. Does not return."""
    details = dict(getattr(exc, "details", None) or {})
    for warning in details.pop("warnings", None) or []:
        module.warn(warning)
    for key in _RESERVED:
        details.pop(key, None)
    module.fail_json(msg=getattr(exc, "msg", None) or str(exc), **details)
