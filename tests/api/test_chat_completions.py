"""POST /v1/chat/completions on the real server, driven by the official openai SDK (and raw SSE once)."""

import json

import httpx
import openai
import pytest

from codespark.api.chat_completions import StopFilter

MODEL = "qwen2.5-coder-0.5b"
WEATHER = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def test_completion_text_and_usage(client):
    r = client.chat.completions.create(model=MODEL, max_tokens=40, messages=[
        {"role": "system", "content": "Answer with code only."},
        {"role": "user", "content": [{"type": "text", "text": "A Python expression that reverses the list xs."}]}])
    choice = r.choices[0]
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-") and r.model == MODEL
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert 0 < r.usage.completion_tokens <= 40


def test_stream_stops_at_a_stop_string_and_reports_usage(client):
    chunks = list(client.chat.completions.create(
        model=MODEL, stream=True, stop=["7"], stream_options={"include_usage": True}, max_tokens=120,
        messages=[{"role": "user", "content": "Count from 1 to 20, separated by commas."}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "6" in text and "7" not in text
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_raw_stream_is_data_lines_ending_in_done(base_url):
    body = {"model": MODEL, "stream": True, "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}]}
    with httpx.stream("POST", base_url + "/v1/chat/completions", json=body, timeout=120) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in resp.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1


def test_tool_call_round_trip(client):
    messages = [{"role": "user", "content": "What's the weather in Paris?"}]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=WEATHER, max_tokens=200)
    assert first.choices[0].finish_reason == "tool_calls"
    call = first.choices[0].message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["city"] == "Paris"

    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 C"}]
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=WEATHER, max_tokens=400)
    # the conversation so far is warm, and a model that repeats its call does not run to the token limit
    assert second.usage.prompt_tokens_details.cached_tokens > 0
    assert second.choices[0].finish_reason in ("stop", "tool_calls")
    calls = [(c.function.name, c.function.arguments) for c in second.choices[0].message.tool_calls or []]
    assert len(calls) == len(set(calls))


def test_forced_tool_call_streams_as_tool_call_deltas(client):
    chunks = list(client.chat.completions.create(
        model=MODEL, stream=True, tools=WEATHER, tool_choice={"type": "function", "function": {"name": "get_weather"}},
        messages=[{"role": "user", "content": "Is it raining in Rome?"}]))
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert deltas and deltas[0].id and deltas[0].function.name == "get_weather"
    assert json.loads("".join(d.function.arguments or "" for d in deltas))["city"] == "Rome"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_prediction_drafts_the_edit(client):
    source = "".join(f"def f{i}(x):\n    return x * {i}\n\n" for i in range(10))
    r = client.chat.completions.create(
        model=MODEL, max_tokens=300, prediction={"type": "content", "content": source},
        messages=[{"role": "user", "content": f"Rename f4 to g4. Reply with the whole file only.\n\n{source}"}])
    # the reply repeats most of the file, so most of it came from accepted drafts (whatever the model renamed)
    details = r.usage.completion_tokens_details
    assert details.accepted_prediction_tokens > r.usage.completion_tokens / 2
    assert "def f9(x)" in r.choices[0].message.content


@pytest.mark.parametrize("body,param", [
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
    ({"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 0}, "max_completion_tokens"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
    ({"messages": [{"role": "user", "content": "x"}], "stop": 7}, "stop"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}, "tools[0]"),
])
def test_bad_requests_name_the_chat_parameter(client, body, param):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=MODEL, **body)
    assert err.value.body["param"] == param
    assert err.value.body["message"]


def test_stop_filter_holds_back_what_could_become_a_stop_string():
    f = StopFilter(["END", "\n\n"])
    out = [f.feed("abc E"), f.feed("N"), f.feed("x\n"), f.feed("\nrest")]
    assert "".join(out) == "abc ENx" and f.stopped
    g = StopFilter(["END"])
    assert g.feed("almost EN") == "almost " and g.flush() == "EN" and not g.stopped
