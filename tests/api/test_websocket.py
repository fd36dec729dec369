"""WebSocket mode, driven by the official openai SDK's `client.responses.connect()` (and raw frames for bad input)."""

import json
import time

import pytest
from websockets.sync.client import connect as ws_connect

from serving import running_server

MODEL = "qwen2.5-coder-0.5b"
TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def run_turn(conn, **body):
    conn.response.create(model=MODEL, **body)
    events = []
    for ev in conn:
        events.append(ev)
        if ev.type in TERMINAL or ev.type == "error":
            return events
    raise AssertionError("connection closed before the response ended")


def test_three_turn_conversation(client):
    with client.responses.connect() as conn:
        e1 = run_turn(conn, input="My name is Zed. Reply with just: noted.", max_output_tokens=8)
        r1 = e1[-1].response
        e2 = run_turn(conn, input="What is 2 + 3? Reply with the number only.", previous_response_id=r1.id, max_output_tokens=6)
        r2 = e2[-1].response
        e3 = run_turn(conn, input="What is my name? Reply with the name only.", previous_response_id=r2.id, max_output_tokens=6)
        r3 = e3[-1].response
    assert [e.type for e in e1][:2] == ["response.created", "response.in_progress"]
    assert "5" in r2.output_text
    assert "zed" in r3.output_text.lower()
    # warm session: each follow-up found the earlier turns in the KV cache
    assert r2.usage.input_tokens_details.cached_tokens >= r1.usage.input_tokens - 2
    assert r3.usage.input_tokens_details.cached_tokens >= r2.usage.input_tokens - 2
    assert r3.previous_response_id == r2.id


def test_previous_response_served_from_store_on_a_new_connection(client):
    with client.responses.connect() as conn:
        r1 = run_turn(conn, input="Remember the code word: PELICAN. Reply: ok.", max_output_tokens=4)[-1].response
    with client.responses.connect() as conn:
        r2 = run_turn(conn, input="Which code word did I ask you to remember? Reply with the code word only.", previous_response_id=r1.id, max_output_tokens=8)[-1].response
    assert r2.usage.input_tokens > r1.usage.input_tokens  # the earlier turn is part of the prompt
    assert "pelican" in r2.output_text.lower()


def test_store_false_works_on_the_same_connection(client):
    with client.responses.connect() as conn:
        r1 = run_turn(conn, input="The secret number is 41. Reply: ok.", max_output_tokens=4, store=False)[-1].response
        r2 = run_turn(conn, input="What is the secret number plus one? Number only.", previous_response_id=r1.id, max_output_tokens=6, store=False)[-1].response
        assert r2.status in ("completed", "incomplete")
    with client.responses.connect() as conn:
        err = run_turn(conn, input="again", previous_response_id=r1.id)[-1]
    assert err.type == "error" and err.error.code == "previous_response_not_found"


def test_generate_false_warms_the_session(client):
    context = "Here is a module:\n```python\n" + "\n".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(40)) + "```"
    with client.responses.connect() as conn:
        warm = run_turn(conn, input=context, generate=False)
        w = warm[-1].response
        assert warm[-1].type == "response.completed"
        assert w.output == [] and w.usage.output_tokens == 0 and w.usage.input_tokens > 300
        turn = run_turn(conn, input="What does f7 return for x=1? Number only.", previous_response_id=w.id, max_output_tokens=6)[-1].response
    assert turn.usage.input_tokens_details.cached_tokens >= w.usage.input_tokens - 2
    assert turn.status in ("completed", "incomplete")


def test_cancel_mid_stream_then_continue(client):
    with client.responses.connect() as conn:
        conn.response.create(model=MODEL, input="Write a long story about a robot.", max_output_tokens=1500)
        deltas = 0
        cancelled_at = None
        for ev in conn:
            if ev.type == "response.output_text.delta":
                deltas += 1
                if deltas == 5:
                    conn.send({"type": "response.cancel"})
                    cancelled_at = deltas
            if ev.type in TERMINAL:
                final = ev
                break
        assert final.type == "response.incomplete"
        assert final.response.status == "cancelled"
        assert final.response.usage.output_tokens < 1500
        # the connection is still usable, and the partial response can be continued
        again = run_turn(conn, input="Stop. Just say: done.", previous_response_id=final.response.id, max_output_tokens=6)[-1]
        assert again.type in TERMINAL and again.response.status in ("completed", "incomplete")
        assert again.response.usage.input_tokens_details.cached_tokens > 0
    assert cancelled_at == 5


def test_second_create_while_in_flight_is_rejected(client):
    with client.responses.connect() as conn:
        conn.response.create(model=MODEL, input="Write a short poem.", max_output_tokens=40)
        conn.response.create(model=MODEL, input="And another.", max_output_tokens=4)
        types = []
        for ev in conn:
            types.append(ev)
            if ev.type in TERMINAL:
                break
    errors = [e for e in types if e.type == "error"]
    assert len(errors) == 1 and errors[0].error.code == "response_already_in_flight"
    assert types[-1].type in ("response.completed", "response.incomplete")  # the first one went on


def test_function_tool_round_trip(client):
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Get the current weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }
    ]
    with client.responses.connect() as conn:
        events = run_turn(conn, input="What's the weather in Paris?", tools=tools, tool_choice="required", max_output_tokens=64)
        types = [e.type for e in events]
        assert "response.function_call_arguments.delta" in types and "response.function_call_arguments.done" in types
        r1 = events[-1].response
        call = next(item for item in r1.output if item.type == "function_call")
        assert call.name == "get_weather"
        assert "paris" in json.loads(call.arguments)["city"].lower()
        out = [{"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"temperature_c": 31, "sky": "clear"})}]
        r2 = run_turn(conn, input=out, tools=tools, previous_response_id=r1.id, max_output_tokens=40)[-1].response
    assert "31" in r2.output_text


def test_bad_input_gets_error_events_and_connection_survives(base_url):
    ws_url = base_url.replace("http", "ws") + "/v1/responses"
    with ws_connect(ws_url, max_size=None) as ws:
        def expect_error(payload, code):
            ws.send(payload)
            ev = json.loads(ws.recv(timeout=30))
            assert ev["type"] == "error", ev
            assert ev["error"]["code"] == code, ev
            assert ev["status"] >= 400 and ev["error"]["message"]
            return ev

        expect_error("{not json", "invalid_json")
        expect_error(json.dumps([1, 2]), "invalid_event")
        expect_error(json.dumps({"type": "session.update"}), "unknown_event_type")
        expect_error(json.dumps({"type": "response.create", "model": MODEL, "input": "hi", "temperature": "warm"}), "invalid_type")
        expect_error(json.dumps({"type": "response.create", "model": "nope", "input": "hi"}), "model_not_found")
        expect_error(json.dumps({"type": "response.create", "model": MODEL}), "missing_required_parameter")
        expect_error(json.dumps({"type": "response.create", "model": MODEL, "input": "x", "previous_response_id": "resp_gone"}), "previous_response_not_found")
        expect_error(json.dumps({"type": "response.create", "model": MODEL, "input": "def f(): pass\n" * 30000}), "context_length_exceeded")
        expect_error(json.dumps({"type": "response.cancel"}), "response_cancel_not_active")
        expect_error("x" * (17 * 1024 * 1024), "message_too_large")
        ws.send(json.dumps({"type": "response.create", "model": MODEL, "input": "Say ok.", "max_output_tokens": 3, "stream": True}))
        while True:
            ev = json.loads(ws.recv(timeout=60))
            if ev["type"] in TERMINAL:
                break
        assert ev["response"]["status"] in ("completed", "incomplete")


def test_connection_closes_after_its_lifetime(tmp_path):
    with running_server(tmp_path, env={"CODESPARK_WS_MAX_AGE_S": "2"}) as (base, _):
        with ws_connect(base.replace("http", "ws") + "/v1/responses") as ws:
            t0 = time.monotonic()
            ev = json.loads(ws.recv(timeout=20))
            assert ev["type"] == "error" and ev["error"]["code"] == "websocket_connection_limit_reached"
            with pytest.raises(Exception):
                ws.recv(timeout=5)
            assert time.monotonic() - t0 < 15
