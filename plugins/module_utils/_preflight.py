# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is the model served, is the key right: the one look at a server's ``GET /v1/models``.

openai_verify's ``models`` check and the benchmark's preflight both ask it through
:func:`list_models`; each words the answer for its own options (a failed contract check, or a
benchmark that cannot start). Standard library only.
"""

from __future__ import annotations

MODELS_PATH = "/v1/models"


def model_ids(data):
    """The model ids of an OpenAI model list (``{"data": [{"id": ...}]}``), or None for anything else."""
    if not isinstance(data, dict):
        return None
    return [m.get("id") for m in data.get("data") or [] if isinstance(m, dict)]


def list_models(client, timeout=None):
    """``(response, ids)`` of ``GET /v1/models`` with the client's key.

    ``ids`` is None unless the server answered 200 with a JSON object; a 401/403 (key refused or
    missing) or 404 (no model list) is for the caller to word. Raises ``_http.Unreachable`` when no
    HTTP answer came.
    """
    resp = client.request("GET", MODELS_PATH, timeout=timeout)
    ids = model_ids(resp.json()) if resp.status == 200 else None
    return resp, ids
