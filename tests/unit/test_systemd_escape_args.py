"""The unit's ExecStart must give the engine exactly the plan's arguments.

Rules here; end to end, the serve scenario compares `docker inspect` Args with the plan's command."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.llmfleet.serving.plugins.filter.systemd_escape_args import systemd_escape_args

TRICKY = ["--speculative-config", '{"method":"mtp","num_speculative_tokens":2}', "--chat-template",
          "a b\tc", "50%", "$HOME", "", "back\\slash", "it's"]


def test_plain_arguments_are_left_alone():
    assert systemd_escape_args(["--tp", "4", "--model-path", "sgl-project/DeepSeek-V4-Flash-FP8"]) == \
        "--tp 4 --model-path sgl-project/DeepSeek-V4-Flash-FP8"


def test_specials_are_quoted_and_escaped():
    line = systemd_escape_args(TRICKY)
    assert '"{\\"method\\":\\"mtp\\",\\"num_speculative_tokens\\":2}"' in line
    assert " 50%% " in line and " $$HOME " in line and ' "" ' in line


def test_expand_keeps_named_references_only():
    line = systemd_escape_args(["--api-key", "${LLMFLEET_API_KEY}", "${OTHER}"], expand=["LLMFLEET_API_KEY"])
    assert line == "--api-key ${LLMFLEET_API_KEY} $${OTHER}"


def test_newline_is_refused():
    with pytest.raises(AnsibleFilterError, match="newline"):
        systemd_escape_args(["a\nb"])
