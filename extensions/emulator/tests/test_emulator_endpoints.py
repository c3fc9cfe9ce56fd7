"""Each endpoint's shape, as a client of a running emulator sees it."""

import json
import random

import pytest
from emulator_harness import SEED_B200_VLLM, Emulator, chat_body, chunks_of
from llmfleet_emulator import tokenizer

KEY = "sk-test-key"
AUTH = {"Authorization": "Bearer " + KEY}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}


@pytest.fixture(scope="module")
def vllm():
    # The seed's vLLM command (reasoning and tool parsers on) plus an API key from VLLM_API_KEY,
    # as the serve role passes it; the calibrated preset, 100x faster.
    emu = Emulator(SEED_B200_VLLM, env={"VLLM_API_KEY": KEY, "EMULATOR_TIME_SCALE": "100"})
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def sglang():
    emu = Emulator(
        [
            "sglang",
            "--model-path",
            "sgl-project/DeepSeek-V4-Flash-FP8",
            "--served-model-name",
            "deepseek",
            "--api-key",
            KEY,
            "--reasoning-parser",
            "deepseek-v4",
        ],
        env={"EMULATOR_PRESET": "fast"},
    )
    yield emu
    emu.stop()


def test_health_models_version(vllm):
    assert vllm.get("/health")[0] == 200
    status, _hdrs, body = vllm.get("/v1/models", headers=AUTH)
    assert status == 200
    assert [m["id"] for m in body["data"]] == ["deepseek"]
    assert body["data"][0]["root"] == "deepseek-ai/DeepSeek-V4-Flash"
    assert body["data"][0]["max_model_len"] == 1048576
    status, _hdrs, body = vllm.get("/version")
    assert status == 200 and body["version"] == "0.20.0" and body["emulator"]["emulated"] is True


def test_streaming_chat_chunk_sequence(vllm):
    events = vllm.stream(
        "/v1/chat/completions", chat_body(max_tokens=12, stream_options={"include_usage": True}), headers=AUTH
    )
    assert events[-1][2] == "[DONE]"
    chunks = chunks_of(events)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[0]["object"] == "chat.completion.chunk" and chunks[0]["model"] == "deepseek"
    content = chunks[1:-1]
    assert all(c["choices"][0]["finish_reason"] is None for c in content[:-1])
    assert content[-1]["choices"][0]["finish_reason"] == "length"
    text = "".join(c["choices"][0]["delta"]["content"] for c in content)
    usage = chunks[-1]
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == 12 == len(text.split())
    assert usage["usage"]["prompt_tokens"] == 2 + 3  # two words + the chat template's 3 tokens
    assert usage["usage"]["total_tokens"] == 17
    assert len({c["id"] for c in chunks}) == 1


def test_no_usage_chunk_unless_asked(vllm):
    chunks = chunks_of(vllm.stream("/v1/chat/completions", chat_body(max_tokens=4), headers=AUTH))
    assert all(c["choices"] for c in chunks)
    assert "usage" not in chunks[-1]


def test_max_tokens_and_natural_stop_without_ignore_eos(vllm):
    body = chat_body(content="tell me a story", stream=False, max_tokens=None, ignore_eos=False)
    del body["max_completion_tokens"]
    body["max_tokens"] = 2000
    first = vllm.post("/v1/chat/completions", body, headers=AUTH)[2]
    again = vllm.post("/v1/chat/completions", body, headers=AUTH)[2]
    n = first["usage"]["completion_tokens"]
    assert 16 <= n <= 512 and first["choices"][0]["finish_reason"] == "stop"
    assert again["usage"]["completion_tokens"] == n  # the "EOS" position is deterministic
    body["max_tokens"] = 7
    short = vllm.post("/v1/chat/completions", body, headers=AUTH)[2]
    assert short["usage"]["completion_tokens"] == 7 and short["choices"][0]["finish_reason"] == "length"


def test_non_streaming_chat_shape(vllm):
    status, _hdrs, body = vllm.post("/v1/chat/completions", chat_body(stream=False, max_tokens=6), headers=AUTH)
    assert status == 200
    assert body["object"] == "chat.completion"
    msg = body["choices"][0]["message"]
    assert msg["role"] == "assistant" and len(msg["content"].split()) == 6 and msg["tool_calls"] == []
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 6


def test_request_id_header_becomes_the_response_id(vllm):
    chunks = chunks_of(
        vllm.stream("/v1/chat/completions", chat_body(max_tokens=2), headers=dict(AUTH, **{"x-request-id": "bench-42"}))
    )
    assert chunks[0]["id"] == "chatcmpl-bench-42"


def test_reasoning_content_when_thinking_is_asked(vllm):
    chunks = chunks_of(
        vllm.stream(
            "/v1/chat/completions", chat_body(max_tokens=10, chat_template_kwargs={"thinking": True}), headers=AUTH
        )
    )
    deltas = [c["choices"][0]["delta"] for c in chunks[1:]]
    reasoning = "".join(d.get("reasoning_content", "") for d in deltas)
    content = "".join(d.get("content", "") for d in deltas)
    assert len(reasoning.split()) == 5 and len(content.split()) == 5
    assert "reasoning_content" in deltas[0] and "content" not in deltas[0]
    plain = chunks_of(vllm.stream("/v1/chat/completions", chat_body(max_tokens=4), headers=AUTH))
    assert not any("reasoning_content" in c["choices"][0]["delta"] for c in plain)


def test_tool_call_streamed_then_text_after_the_tool_result(vllm):
    body = chat_body(content="what is the weather in Paris", max_tokens=100, tools=[WEATHER_TOOL])
    chunks = chunks_of(vllm.stream("/v1/chat/completions", body, headers=AUTH))
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:]]
    assert calls[0]["function"]["name"] == "get_weather" and calls[0]["type"] == "function"
    assert calls[0]["id"].startswith("chatcmpl-tool-")
    args = json.loads("".join(c["function"]["arguments"] for c in calls))
    assert args == {"city": "emulated", "days": 1}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    follow = chat_body(stream=False, max_tokens=5, tools=[WEATHER_TOOL])
    call = {
        "id": calls[0]["id"],
        "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps(args)},
    }
    follow["messages"] += [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"},
    ]
    answer = vllm.post("/v1/chat/completions", follow, headers=AUTH)[2]
    assert answer["choices"][0]["message"]["tool_calls"] == []
    assert len(answer["choices"][0]["message"]["content"].split()) == 5


def test_api_key_required_on_v1_only(vllm):
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        status, _hdrs, body = vllm.get("/v1/models", headers=headers)
        assert status == 401
        assert set(body["error"]) >= {"message", "type", "code"} and body["error"]["code"] == 401
    assert vllm.get("/health")[0] == 200
    assert vllm.get("/metrics")[0] == 200
    assert vllm.post("/tokenize", {"prompt": "a b"})[0] == 200


def test_anthropic_endpoint_accepts_x_api_key(vllm):
    body = {"model": "deepseek", "max_tokens": 3, "messages": [{"role": "user", "content": "hi"}]}
    status, _hdrs, msg = vllm.post("/v1/messages", body, headers={"x-api-key": KEY})
    assert status == 200
    assert msg["type"] == "message" and msg["stop_reason"] == "max_tokens"
    assert msg["content"][0]["type"] == "text" and len(msg["content"][0]["text"].split()) == 3
    assert msg["usage"] == {"input_tokens": 4, "output_tokens": 3}
    assert vllm.post("/v1/messages", body, headers={"x-api-key": "wrong"})[0] == 401


def test_anthropic_streaming_events(vllm):
    body = {
        "model": "deepseek",
        "max_tokens": 6,
        "stream": True,
        "system": "be brief",
        "thinking": {"type": "enabled", "budget_tokens": 100},
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi there"}]}],
    }
    events = vllm.stream("/v1/messages", body, headers={"x-api-key": KEY})
    names = [e for _t, e, _d in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_start") == names.count("content_block_stop") == 2
    data = [json.loads(d) for _t, _e, d in events]
    blocks = [d["content_block"]["type"] for d in data if d["type"] == "content_block_start"]
    assert blocks == ["thinking", "text"]
    thinking = "".join(d["delta"].get("thinking", "") for d in data if d["type"] == "content_block_delta")
    text = "".join(d["delta"].get("text", "") for d in data if d["type"] == "content_block_delta")
    assert len(thinking.split()) == 3 and len(text.split()) == 3
    final = [d for d in data if d["type"] == "message_delta"][0]
    assert final["delta"]["stop_reason"] == "max_tokens" and final["usage"]["output_tokens"] == 6
    # <bos>, system marker + 2 words, user marker + 2 words, generation prompt
    assert data[0]["message"]["usage"]["input_tokens"] == 1 + 3 + 3 + 1


def test_anthropic_tool_use(vllm):
    tool = {"name": "get_weather", "input_schema": WEATHER_TOOL["function"]["parameters"]}
    body = {
        "model": "deepseek",
        "max_tokens": 50,
        "tools": [tool],
        "messages": [{"role": "user", "content": "weather please"}],
    }
    msg = vllm.post("/v1/messages", body, headers={"x-api-key": KEY})[2]
    assert msg["stop_reason"] == "tool_use"
    assert msg["content"][0]["type"] == "tool_use" and msg["content"][0]["input"] == {"city": "emulated", "days": 1}


@pytest.mark.parametrize(
    "path, body, status, fragment",
    [
        ("/v1/chat/completions", chat_body(model="gpt-4"), 404, "The model `gpt-4` does not exist."),
        ("/v1/chat/completions", {"model": "deepseek"}, 400, "messages"),
        ("/v1/chat/completions", chat_body(max_tokens=2_000_000), 400, "maximum context length"),
        ("/v1/chat/completions", chat_body(max_tokens=0), 400, "max_completion_tokens"),
        ("/v1/messages", {"model": "deepseek", "messages": [{"role": "user", "content": "x"}]}, 400, "max_tokens"),
    ],
)
def test_request_errors(vllm, path, body, status, fragment):
    got, _hdrs, err = vllm.post(path, body, headers=dict(AUTH, **{"x-api-key": KEY}))
    assert got == status
    message = err["error"]["message"]
    assert fragment in message


def test_malformed_json_is_400(vllm):
    status, _hdrs, err = vllm.request("POST", "/v1/chat/completions", raw=b'{"model": ', headers=AUTH)
    assert status == 400 and err["error"]["type"] == "BadRequestError"


def test_unknown_path_is_fastapi_like_404(vllm):
    assert vllm.get("/nope")[0:3:2] == (404, {"detail": "Not Found"})


def test_tokenize_detokenize_round_trip(vllm):
    rng = random.Random(7)
    ids = [rng.randrange(tokenizer.FIRST_WORD_ID, tokenizer.VOCAB_SIZE) for _i in range(300)]
    prompt = vllm.post("/detokenize", {"model": "deepseek", "tokens": ids})[2]["prompt"]
    tok = vllm.post("/tokenize", {"model": "deepseek", "prompt": prompt, "add_special_tokens": False})[2]
    assert tok["tokens"] == ids and tok["count"] == 300 and tok["max_model_len"] == 1048576
    with_bos = vllm.post("/tokenize", {"model": "deepseek", "prompt": prompt})[2]
    assert with_bos["count"] == 301 and with_bos["tokens"][0] == tokenizer.BOS
    messages = [{"role": "user", "content": prompt}]
    counted = vllm.post("/tokenize", {"model": "deepseek", "messages": messages})[2]["count"]
    usage = vllm.post(
        "/v1/chat/completions", {"model": "deepseek", "messages": messages, "max_tokens": 1}, headers=AUTH
    )[2]["usage"]
    assert counted == usage["prompt_tokens"] == 303
    assert vllm.post("/detokenize", {"model": "deepseek", "tokens": [-1]})[0] == 400


def test_metrics_have_vllm_names_and_count(vllm):
    before = vllm.get("/metrics")[2]
    vllm.stream("/v1/chat/completions", chat_body(max_tokens=5), headers=AUTH)
    text = vllm.get("/metrics")[2]
    for name in (
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:e2e_request_latency_seconds_count",
        "vllm:inter_token_latency_seconds_sum",
    ):
        assert name in text

    def value(page, name):
        line = [row for row in page.splitlines() if row.startswith(name + "{")][0]
        return float(line.rsplit(" ", 1)[1])

    assert value(text, "vllm:generation_tokens_total") == value(before, "vllm:generation_tokens_total") + 5
    assert (
        value(text, "vllm:e2e_request_latency_seconds_count")
        == value(before, "vllm:e2e_request_latency_seconds_count") + 1
    )


def test_completions_endpoint(vllm):
    events = vllm.stream(
        "/v1/completions",
        {"model": "deepseek", "prompt": "once upon", "max_tokens": 4, "stream": True, "ignore_eos": True},
        headers=AUTH,
    )
    chunks = chunks_of(events)
    assert "".join(c["choices"][0]["text"] for c in chunks).count(" ") == 4
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_sglang_extras_and_key_scope(sglang):
    assert sglang.get("/health")[0] == 200
    assert sglang.get("/get_model_info")[0] == 401  # SGLang guards every route but /health* and /metrics
    status, _hdrs, info = sglang.get("/get_model_info", headers=AUTH)
    assert status == 200 and info["model_path"] == "sgl-project/DeepSeek-V4-Flash-FP8"
    assert sglang.get("/health_generate")[0] == 200
    server = sglang.get("/server_info", headers=AUTH)[2]
    assert server["emulator"]["preset"] == "fast" and server["served_model_name"] == "deepseek"
    assert sglang.get("/metrics")[0] == 404  # SGLang serves metrics only with --enable-metrics
    chunks = chunks_of(
        sglang.stream(
            "/v1/chat/completions",
            chat_body(max_tokens=4, chat_template_kwargs={"enable_thinking": True}),
            headers=AUTH,
        )
    )
    assert chunks[1]["choices"][0]["delta"].get("reasoning_content")


def test_vllm_auto_tool_choice_needs_its_flags():
    emu = Emulator(
        ["vllm", "serve", "--model", "m", "--served-model-name", "deepseek"], env={"EMULATOR_PRESET": "fast"}
    )
    try:
        status, _hdrs, err = emu.post("/v1/chat/completions", chat_body(stream=False, tools=[WEATHER_TOOL]))
        assert status == 400 and "--enable-auto-tool-choice" in err["error"]["message"]
        named = chat_body(
            stream=False, tools=[WEATHER_TOOL], tool_choice={"type": "function", "function": {"name": "get_weather"}}
        )
        body = emu.post("/v1/chat/completions", named)[2]
        assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    finally:
        emu.stop()
