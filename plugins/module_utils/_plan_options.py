# -*- coding: utf-8 -*-
# Copyright: llmfleet.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner's choices as an Ansible argument spec: serving_plan's options and what fleet_plan reads
per host (``hosts.<name>.choices``). One spec, so both read the same types and defaults."""

from __future__ import annotations

from ansible_collections.llmfleet.serving.plugins.module_utils._plan import (
    DEFAULT_HF_CACHE_DIR,
    DEFAULT_MODEL,
    DEFAULT_PORT,
    DEFAULT_SERVED_MODEL_NAME,
    ENGINE_CHOICES,
)

PLAN_CHOICES_SPEC = dict(
    model=dict(type="str", default=DEFAULT_MODEL),
    engine=dict(type="str", choices=list(ENGINE_CHOICES), default="auto"),
    tensor_parallel_size=dict(type="int"),
    image=dict(type="str"),
    port=dict(type="int", default=DEFAULT_PORT),
    served_model_name=dict(type="str", default=DEFAULT_SERVED_MODEL_NAME),
    hf_cache_dir=dict(type="str", default=DEFAULT_HF_CACHE_DIR),
    # raw, not list/dict: Ansible would split '--a --b' at commas and turn 'A=1' into a mapping;
    # the planner refuses the wrong shape with a message instead.
    extra_args=dict(type="raw", default=[]),
    allow_unknown_args=dict(type="bool", default=False),
    env=dict(type="raw", default={}),
    speculative=dict(type="bool"),
    container_name=dict(type="str"),
    publish_address=dict(type="str", default=""),
    profiles=dict(type="dict", default={}),
)
