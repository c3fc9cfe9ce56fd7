"""The quoting filters of plugins/filter/unit_quote.py, as pure functions.

Whether systemd reads what they write back as the same value is proven with systemd itself in
test_unit_templates.py; here: the exact text, and what each refuses with which message.
"""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.llmfleet.serving.plugins.filter.unit_quote import (
    FilterModule,
    container_env_file,
    systemd_command_lines,
    systemd_env_file,
    systemd_value,
    systemd_word,
)


@pytest.mark.parametrize(
    "value, written",
    [
        ("--tp", "--tp"),
        ("deepseek-ai/DeepSeek-V4-Flash", "deepseek-ai/DeepSeek-V4-Flash"),
        (8, "8"),
        (0.9, "0.9"),
        ("50%", "50%%"),  # a specifier otherwise (%n: the unit name)
        ("$HOME", "$$HOME"),  # a variable otherwise
        ("a b", '"a b"'),
        ("", '""'),  # an empty argument stays an argument
        ("x;y", '"x;y"'),
        (";", '";"'),  # a lone ; would end the command
        ('say "hi"', '"say \\"hi\\""'),
        ("it's", "\"it's\""),
        ("C:\\dir", '"C:\\\\dir"'),
        ("line1\nline2\ttab\r", '"line1\\nline2\\ttab\\r"'),
        ("bell\x07del\x7f", '"bell\\x07del\\x7f"'),
        ("a\n[Service]\nExecStartPre=/bin/touch /tmp/x", '"a\\n[Service]\\nExecStartPre=/bin/touch /tmp/x"'),
        ("100% ${KEY}", '"100%% $${KEY}"'),
    ],
)
def test_systemd_word(value, written):
    assert systemd_word(value) == written
    assert "\n" not in systemd_word(value)


@pytest.mark.parametrize(
    "value, what",
    [
        ("a\x00b", "NUL"),
        (["--tp", "8"], "string or a number"),
        ({"a": 1}, "string or a number"),
        (None, "string or a number"),
        (True, "boolean"),
    ],
)
def test_systemd_word_refuses(value, what):
    with pytest.raises(AnsibleFilterError, match="serve_extra_args.*") as err:
        systemd_word(value, "serve_extra_args")
    assert what in str(err.value)


def test_systemd_command_lines_groups_options_and_quotes_each_word():
    words = ["python3", "-m", "sglang.launch_server", "--tp", 8, "--chat-template", "a b\nc", "--flag"]
    assert systemd_command_lines(words) == (
        'python3 \\\n    -m sglang.launch_server \\\n    --tp 8 \\\n    --chat-template "a b\\nc" \\\n    --flag'
    )
    assert systemd_command_lines([]) == ""
    with pytest.raises(AnsibleFilterError, match="plan command must be a list"):
        systemd_command_lines("--tp 8", "plan command")
    with pytest.raises(AnsibleFilterError, match="plan command holds a NUL"):
        systemd_command_lines(["--x", "\x00"], "plan command")


@pytest.mark.parametrize(
    "value, written",
    [
        ("deepseek", "deepseek"),
        (4, "4"),
        ("a b", "a b"),
        ("50%n", "50%%n"),
        ("$HOME \"q\" 'q' ; [Service]", "$HOME \"q\" 'q' ; [Service]"),
        ("back\\slash", "back\\slash"),
    ],
)
def test_systemd_value(value, written):
    assert systemd_value(value) == written


@pytest.mark.parametrize(
    "value, what",
    [
        ("x\n[Service]\nExecStartPre=/bin/touch /tmp/x", "control character '\\n'"),
        ("x\ry", "control character '\\r'"),
        ("tab\there", "control character '\\t'"),
        ("nul\x00", "control character '\\x00'"),
        ("ends\\", "ends with a backslash"),
        (["a"], "string or a number"),
    ],
)
def test_systemd_value_refuses_naming_the_field_and_value(value, what):
    with pytest.raises(AnsibleFilterError) as err:
        systemd_value(value, "serve_profiles model_id")
    msg = str(err.value)
    assert "serve_profiles model_id" in msg and what in msg
    assert repr(value) in msg  # not a secret: the user sees which value to fix


def test_container_env_file_is_literal():
    assert container_env_file({"VLLM_API_KEY": 'k"e$y`\\x \'q\' ;%'}) == 'VLLM_API_KEY=k"e$y`\\x \'q\' ;%'
    assert container_env_file({"A": "1", "B": "two words"}) == "A=1\nB=two words"
    assert container_env_file({}) == ""


def test_systemd_env_file_escapes_what_systemd_unescapes():
    assert (
        systemd_env_file({"LLMFLEET_API_KEY": 'k"e$y`\\x \'q\' ;%'}) == 'LLMFLEET_API_KEY="k\\"e\\$y\\`\\\\x \'q\' ;%"'
    )
    assert systemd_env_file({"K": "plain"}) == 'K="plain"'


@pytest.mark.parametrize("fn", [container_env_file, systemd_env_file])
@pytest.mark.parametrize("secret", ["line1\nline2", "cr\rhere", "nul\x00"])
def test_env_files_refuse_line_breaks_without_showing_the_value(fn, secret):
    with pytest.raises(AnsibleFilterError) as err:
        fn({"VLLM_API_KEY": secret}, "serve_api_key")
    msg = str(err.value)
    assert "VLLM_API_KEY" in msg and "serve_api_key" in msg and "not shown" in msg
    assert secret not in msg and repr(secret) not in msg and "line1" not in msg and "here" not in msg


@pytest.mark.parametrize("fn", [container_env_file, systemd_env_file])
def test_env_files_refuse_bad_names_and_shapes(fn):
    with pytest.raises(AnsibleFilterError, match="'1BAD' is not an environment variable name"):
        fn({"1BAD": "x"})
    with pytest.raises(AnsibleFilterError, match="'A=B' is not an environment variable name"):
        fn({"A=B": "x"})
    with pytest.raises(AnsibleFilterError, match="must be a dictionary"):
        fn("KEY=value")


def test_filter_names():
    assert sorted(FilterModule().filters()) == [
        "container_env_file",
        "quadlet_value",
        "systemd_command_lines",
        "systemd_env_file",
        "systemd_value",
        "systemd_word",
    ]


@pytest.mark.parametrize(
    "path", ["/etc/[Service]/secrets.env", "/etc/a*/s", "/etc/a?/s", "/etc/{a,b}/s", "/etc/a\\b/s"]
)
def test_systemd_value_glob_refuses_glob_characters_in_a_path(path):
    assert systemd_value(path) == path.replace("%", "%%")  # a plain value may hold them
    with pytest.raises(AnsibleFilterError, match="serve_secrets_dir holds .* glob pattern"):
        systemd_value(path, "serve_secrets_dir", glob=True)
    assert systemd_value("/etc/llm fleet %n/s.env", "serve_secrets_dir", glob=True) == "/etc/llm fleet %%n/s.env"


@pytest.mark.parametrize(
    "value, written",
    [
        ("vllm/vllm-openai:deepseekv4-cu130", "vllm/vllm-openai:deepseekv4-cu130"),
        ("/srv/hf cache:/root/.cache/huggingface", "/srv/hf cache:/root/.cache/huggingface"),  # the generator quotes
        ("reg/e:$TAG%n", "reg/e:$$TAG%%n"),
        ('a "q" \\ b', 'a "q" \\ b'),
    ],
)
def test_quadlet_value(value, written):
    from ansible_collections.llmfleet.serving.plugins.filter.unit_quote import quadlet_value

    assert quadlet_value(value) == written


def test_quadlet_value_refuses_line_breaks_naming_the_field():
    from ansible_collections.llmfleet.serving.plugins.filter.unit_quote import quadlet_value

    with pytest.raises(AnsibleFilterError, match=r"serve_image holds the control character '\\n'"):
        quadlet_value("reg/e:x\n[Service]", "serve_image")
