# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The options of the modules that talk to a served model's HTTP endpoint (openai_verify, llm_benchmark).

Documented once here; each module sets what differs (openai_verify defaults O(base_url), llm_benchmark
requires it) in its own DOCUMENTATION, which Ansible merges over these entries key by key.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  base_url:
    description:
      - Root URL of the server (C(http://HOST:PORT) or C(https://HOST:PORT)), without C(/v1); the module adds
        the API paths.
    type: str
  served_model_name:
    description:
      - The model name the server serves (the engine's C(--served-model-name)); every request names it.
    type: str
    required: true
  api_key:
    description:
      - The key the server was started with (vLLM C(VLLM_API_KEY)/C(--api-key), SGLang C(--api-key)), for servers
        started with one.
      - Sent only as C(Authorization Bearer KEY); never returned or logged (results show it masked).
    type: str
"""
