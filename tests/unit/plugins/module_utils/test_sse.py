"""The one SSE reader (_sse) that verify and the benchmark read streams with."""

from ansible_collections.llmfleet.serving.plugins.module_utils import _sse

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
