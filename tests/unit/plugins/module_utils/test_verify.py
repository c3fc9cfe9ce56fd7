"""openai_verify's pure pieces: key masking, the SSE reader, stream judgement, check lists, URLs.

The streams here are written the way vLLM sends them (see the emulator's sse.py for the same shapes);
each broken variant is one thing a real server or proxy gets wrong.
"""

import json

import pytest

from ansible_collections.llmfleet.serving.plugins.module_utils import _contract, _secrets, _sse, _verify
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import VerifyError

# ---- masking --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, shown",
    [
        ("sk-proj-0123456789abcdefWXYZ", "sk-\u2026WXYZ"),
        ("abcdefghijklmnop1234", "\u20261234"),
        ("tok_0123456789abcdef", "tok_\u2026cdef"),
        ("short-key", "********"),
        ("fifteen-chars-x", "********"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_secret(key, shown):
    assert _secrets.mask_secret(key) == shown


def test_mask_never_contains_most_of_the_key():
    key = "sk-" + "a1b2c3d4e5f6a7b8c9d0"
    masked = _secrets.mask_secret(key)
    assert key not in masked and key[3:-4] not in masked


def test_scrub_replaces_every_occurrence():
    key = "sk-0123456789abcdefgh"
    text = "started with --api-key %s\nAuthorization: Bearer %s" % (key, key)
    out = _secrets.scrub(text, key)
    assert key not in out
    assert out.count("sk-\u2026efgh") == 2


# ---- SSE ------------------------------------------------------------------------------------


def test_iter_sse_splits_events_names_and_multiline_data():
    raw = (
        b": keep-alive comment\n\n"
        b"event: message_start\ndata: {\"a\":1}\n\n"
        b"data: line one\r\ndata: line two\r\n\r\n"
        b"data:[DONE]\n\n"
        b"data: no blank line at the end"
    )
    assert list(_sse.iter_sse(raw.splitlines(keepends=True))) == [
        ("message_start", '{"a":1}'),
        ("message", "line one\nline two"),
        ("message", "[DONE]"),
        ("message", "no blank line at the end"),
    ]


def _chunk(delta=None, finish=None, usage=None, choices=True):
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "deepseek",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}] if choices else [],
    }
    if usage is not None:
        body["usage"] = usage
    return json.dumps(body)


USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}


def _stream(*datas):
    return [(0.01 * (i + 1), "message", d) for i, d in enumerate(datas)]


GOOD = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": " hello"}),
    _chunk({"content": " there"}),
    _chunk({"content": " friend"}, finish="length"),
    _chunk(usage=USAGE, choices=False),
    "[DONE]",
]


def test_a_vllm_style_stream_passes_with_its_numbers():
    summary = _contract.summarize_chat_stream(_stream(*GOOD))
    assert summary["content"] == " hello there friend"
    assert _contract.judge_chat_stream(summary) == (
        "5 chunks, role chunk, 3 completion tokens (finish_reason length), first token after 20 ms, usage chunk, [DONE]"
    )


def test_reasoning_only_stream_counts_as_text():
    datas = [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"reasoning_content": " hmm"}, finish="length"),
        _chunk(usage=USAGE, choices=False),
        "[DONE]",
    ]
    summary = _contract.summarize_chat_stream(_stream(*datas))
    assert summary["reasoning"] == " hmm"
    _contract.judge_chat_stream(summary)


@pytest.mark.parametrize(
    "datas, message",
    [
        (GOOD[:4] + ["[DONE]"], "no usage chunk although the request set stream_options.include_usage=true"),
        (GOOD[:5], "the stream ended without 'data: [DONE]'"),
        (GOOD[1:], "no role chunk"),
        (["[DONE]"], "the stream ended without a single chunk (only data: [DONE])"),
        ([GOOD[0], _chunk(usage=USAGE, choices=False), "[DONE]"], "the stream had 2 chunks but no content"),
        (
            GOOD[:2] + [json.dumps({"error": {"message": "EngineDeadError"}})],
            "the stream carried an error: EngineDeadError",
        ),
        (GOOD[:2] + ["{not json"], "a stream chunk is not JSON: '{not json'"),
        (GOOD + [_chunk({"content": "late"})], "1 event(s) came after 'data: [DONE]'"),
        (
            GOOD[:4] + [_chunk(usage=dict(USAGE, completion_tokens=0), choices=False), "[DONE]"],
            "the usage chunk reports completion_tokens=0",
        ),
    ],
)
def test_broken_streams_say_what_is_missing(datas, message):
    with pytest.raises(VerifyError) as err:
        _contract.judge_chat_stream(_contract.summarize_chat_stream(_stream(*datas)))
    assert message in err.value.msg


def _ev(kind, **payload):
    return (0.005, kind, json.dumps(dict(payload, type=kind)))


ANTHROPIC_GOOD = [
    _ev("message_start", message={"id": "msg_1", "role": "assistant", "content": []}),
    _ev("content_block_start", index=0, content_block={"type": "text", "text": ""}),
    _ev("content_block_delta", index=0, delta={"type": "text_delta", "text": "Hello"}),
    _ev("content_block_stop", index=0),
    _ev("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 1}),
    _ev("message_stop"),
]


def test_an_anthropic_stream_passes():
    detail = _contract.judge_anthropic_stream(_contract.summarize_anthropic_stream(ANTHROPIC_GOOD))
    assert detail.startswith("6 events (message_start ... message_stop), 1 output tokens, stop_reason end_turn")


@pytest.mark.parametrize(
    "events, message",
    [
        (ANTHROPIC_GOOD[:-1], "the stream lacks message_stop"),
        (ANTHROPIC_GOOD[:2] + ANTHROPIC_GOOD[3:], "the stream lacks content_block_delta"),
        ([_ev("error", error={"type": "overloaded_error", "message": "busy"})], "error event: busy"),
        (
            ANTHROPIC_GOOD[:4]
            + [_ev("message_delta", delta={"stop_reason": "end_turn"}, usage={})]
            + ANTHROPIC_GOOD[5:],
            "usage.output_tokens=None",
        ),
    ],
)
def test_broken_anthropic_streams(events, message):
    with pytest.raises(VerifyError) as err:
        _contract.judge_anthropic_stream(_contract.summarize_anthropic_stream(events))
    assert message in err.value.msg


# ---- checks, URLs, report -------------------------------------------------------------------


def test_default_checks_and_auth_with_a_key():
    assert _verify.resolve_checks(None, None) == ["health", "models", "chat", "chat_stream"]
    assert _verify.resolve_checks(None, "k") == ["health", "models", "chat", "chat_stream", "auth"]
    assert _verify.resolve_checks(["tools", "models", "tools"], None) == ["tools", "models"]


@pytest.mark.parametrize(
    "checks, key, message",
    [
        (["auth"], None, "checks has 'auth' but api_key is not set"),
        ([], None, "checks is an empty list"),
        (["healthz"], None, "checks has 'healthz', which is not a check; the checks are health, models"),
    ],
)
def test_bad_check_lists(checks, key, message):
    with pytest.raises(VerifyError) as err:
        _verify.resolve_checks(checks, key)
    assert message in err.value.msg


def test_base_url_with_v1_is_shortened_with_a_warning():
    url, warnings = _verify.normalize_base_url("http://10.0.0.5:8000/v1/")
    assert url == "http://10.0.0.5:8000"
    assert warnings == [
        "base_url 'http://10.0.0.5:8000/v1/' ends in /v1; using the server root "
        "http://10.0.0.5:8000 (the module adds /v1/... itself)"
    ]


@pytest.mark.parametrize("bad", ["10.0.0.5:8000", "ftp://x", "http://"])
def test_bad_base_urls(bad):
    with pytest.raises(VerifyError) as err:
        _verify.normalize_base_url(bad)
    assert repr(bad) in err.value.msg


def test_report_entries_and_summary_line():
    report = [_verify.report_entry("health", True, 0.0012, "ok"), _verify.report_entry("models", True, 0.0023456, "ok")]
    assert report[1] == {"name": "models", "passed": True, "latency_ms": 2.3, "detail": "ok"}
    assert (
        _verify.summarize_report(report, 41.04)
        == "2/2 checks passed (health 1.2 ms, models 2.3 ms); ready after 41.0 s"
    )
