"""The client's SSE handling: vLLM's per-request timing rules on byte streams cut anywhere."""

import json

import pytest

from ansible_collections.llmfleet.serving.plugins.module_utils._bench_config import normalize_config
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_metrics import RequestRecord
from ansible_collections.llmfleet.serving.plugins.module_utils._bench_stream import (
    StreamParser,
    _is_plain_token_chunk,
    _string_bytes,
    request_body,
)


def _chunk(delta, finish=None, usage=None, choices=True):
    data = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "deepseek",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else [],
    }
    if usage:
        data["usage"] = usage
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def _feed(pieces, cut=None, want_text=True):
    """pieces: [(bytes, now)]; ``cut`` splits every piece's bytes at that offset into two reads."""
    rec = RequestRecord(0, "r0", 10, 3)
    parser = StreamParser(rec, 0.0, want_text=want_text)
    for data, now in pieces:
        if cut and len(data) > cut:
            parser.feed(data[:cut], now)
            parser.feed(data[cut:], now)
        else:
            parser.feed(data, now)
    parser.finish(pieces[-1][1])
    return rec, parser


STREAM = [
    (_chunk({"role": "assistant", "content": ""}), 0.100),
    (_chunk({"reasoning_content": "hmm"}), 0.130),
    (_chunk({"content": "a b"}), 0.150),
    (_chunk({"content": " c"}, finish="length"), 0.200),
    (_chunk({}, usage={"prompt_tokens": 13, "completion_tokens": 3, "total_tokens": 16}, choices=False), 0.300),
    (b"data: [DONE]\n\n", 0.310),
]


@pytest.mark.parametrize("cut", [None, 1, 7, 40])
def test_vllm_timing_rules(cut):
    rec, parser = _feed(STREAM, cut)
    assert rec.ttft == 0.1  # first choices message, even an empty role chunk (vLLM's rule)
    assert rec.itl == pytest.approx([0.03, 0.02, 0.05])
    assert parser.last == 0.2  # the usage-only message does not extend E2EL
    assert rec.ttft_content == 0.13  # reasoning text counts as the first token in our addition
    assert (rec.output_tokens, rec.prompt_len, rec.finish_reason) == (3, 13, "length")
    assert rec.chunk_chars == [0, 3, 3, 2]
    assert rec.generated_text == "hmma b c"
    assert rec.stream_error is None


def test_role_chunk_can_be_skipped_as_released_vllm_does():
    rec = RequestRecord(0, "r0", 10, 3)
    parser = StreamParser(rec, 0.0, want_text=False, skip_role=True)
    for data, now in STREAM:
        parser.feed(data, now)
    parser.finish(0.31)
    assert rec.ttft == 0.13  # the reasoning chunk, not the role chunk at 0.10 s
    assert rec.itl == pytest.approx([0.02, 0.05])
    assert rec.chunk_chars == [3, 3, 2]


def test_fast_path_measures_what_full_parsing_measures():
    # compact JSON, as vLLM's server writes it: plain token chunks take the fast path
    stream = [(piece.replace(b'": ', b'":').replace(b', "', b',"'), now) for piece, now in STREAM]
    stream.insert(
        3,
        (
            _chunk({"content": "caf\u00e9 ok"})
            .replace(b'": ', b'":')
            .replace(b', "', b',"')
            .replace(b"\\u00e9", "\u00e9".encode()),
            0.16,
        ),
    )
    assert _is_plain_token_chunk(stream[3][0][6:-2])
    assert stream[3][0][6:-2].endswith(b'"},"logprobs":null,"finish_reason":null}]}')  # vLLM's shape
    fast, dummy = _feed(stream, want_text=False)
    slow, dummy = _feed(stream, want_text=True)  # generated text wanted: every message decoded
    for field in ("ttft", "itl", "ttft_content", "chunk_chars", "output_tokens", "prompt_len", "finish_reason"):
        assert getattr(fast, field) == getattr(slow, field), field
    assert fast.chunk_chars[3] == len("caf\u00e9 ok".encode())


def test_fast_path_string_length_skips_escaped_quotes():
    payload = b'{"choices":[{"index":0,"delta":{"content":"a\\"b\\\\"},"finish_reason":null}]}'
    assert _string_bytes(payload, b'"content":"') == len(b'a\\"b\\\\')
    assert _string_bytes(payload, b'"reasoning":"') == 0


def test_several_messages_in_one_read_share_its_timestamp():
    data = b"".join(piece for piece, dummy in STREAM)
    rec, parser = _feed([(data, 0.5)])
    assert rec.ttft == 0.5 and rec.itl == [0.0, 0.0, 0.0]


def test_crlf_comments_and_multiline_events():
    stream = [
        (b": keep-alive\r\n\r\n", 0.05),
        (b"event: message\r\n" + _chunk({"content": "x"}).replace(b"\n\n", b"\r\n\r\n"), 0.1),
        (b"data:" + _chunk({"content": "y"}, finish="length")[6:], 0.2),
    ]
    rec, dummy = _feed(stream)
    assert rec.ttft == 0.1 and rec.itl == pytest.approx([0.1])
    assert rec.generated_text == "xy"


def test_continuous_usage_gives_exact_tokens_per_chunk():
    stream = [
        (_chunk({"content": "a"}, usage={"prompt_tokens": 5, "completion_tokens": 1}), 0.1),
        (_chunk({"content": "b c d"}, usage={"prompt_tokens": 5, "completion_tokens": 4}), 0.2),
        (_chunk({}, usage={"prompt_tokens": 5, "completion_tokens": 4}, choices=False), 0.3),
    ]
    rec, dummy = _feed(stream)
    assert rec.chunk_tokens == [1, 3]
    assert rec.output_tokens == 4


def test_error_event_inside_a_200_stream_is_recorded():
    stream = [(_chunk({"content": "a"}), 0.1), (b'data: {"error": {"message": "engine died", "code": 500}}\n\n', 0.2)]
    rec, dummy = _feed(stream)
    assert rec.stream_error == "engine died"


def test_request_body_is_vllm_openai_chat():
    cfg = normalize_config({"base_url": "http://h:1", "served_model_name": "deepseek"})
    body = json.loads(request_body(cfg, "hello world", 1024))
    assert body == {
        "model": "deepseek",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}],
        "max_completion_tokens": 1024,
        "stream": True,
        "stream_options": {"include_usage": True},
        "ignore_eos": True,
    }
    assert "temperature" not in body  # only when asked, as vLLM today
    cfg = normalize_config({"base_url": "http://h:1", "served_model_name": "deepseek", "temperature": 0})
    assert json.loads(request_body(cfg, "x", 1))["temperature"] == 0.0
