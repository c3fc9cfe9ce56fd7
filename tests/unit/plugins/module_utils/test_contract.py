"""The stream contract checks (_contract): what makes a chat or Anthropic stream acceptable.

The streams here are written the way vLLM sends them (see the emulator's sse.py for the same shapes);
each broken variant is one thing a real server or proxy gets wrong.
"""

import json

import pytest

from ansible_collections.llmfleet.serving.plugins.module_utils import _contract
from ansible_collections.llmfleet.serving.plugins.module_utils._errors import VerifyError

# ---- OpenAI chat streams ----------------------------------------------------------------------


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
