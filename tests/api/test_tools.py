"""Tools as real clients send them: function, namespace (flattened), custom (freeform), hosted (left out)."""

import json

MODEL = "qwen2.5-coder-0.5b"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def test_namespace_tools_are_flattened(client):
    r = client.responses.create(
        model=MODEL,
        input="What's the weather in Rome?",
        tools=[{"type": "web_search"}, {"type": "namespace", "name": "weather", "description": "Weather tools", "tools": [WEATHER]}],
        tool_choice="required",
        max_output_tokens=48,
    )
    calls = [o for o in r.output if o.type == "function_call"]
    assert calls and calls[0].name == "get_weather"
    assert "rome" in json.loads(calls[0].arguments)["city"].lower()


def test_forced_function_over_http_streaming(client):
    with client.responses.stream(
        model=MODEL, input="Weather in Oslo please", tools=[WEATHER], tool_choice={"type": "function", "name": "get_weather"}, max_output_tokens=48
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert done and json.loads(done[0].arguments)["city"].lower() == "oslo"
    call = final.output[-1]
    assert call.type == "function_call" and call.call_id.startswith("call_") and call.status == "completed"


def test_custom_tool_calls_come_back_as_custom_tool_call_items(client):
    tool = {"type": "custom", "name": "shell", "description": "Run a shell command. The input is the command line."}
    r = client.responses.create(
        model=MODEL,
        input="List the files in the current directory using the shell tool.",
        tools=[tool],
        tool_choice={"type": "custom", "name": "shell"},
        max_output_tokens=48,
    )
    item = r.output[-1]
    assert item.type == "custom_tool_call" and item.name == "shell"
    assert isinstance(item.input, str) and item.input.strip()
    # the client sends the tool's output back and the conversation goes on
    follow = client.responses.create(
        model=MODEL,
        previous_response_id=r.id,
        input=[{"type": "custom_tool_call_output", "call_id": item.call_id, "output": "README.md\nsetup.py"}],
        tools=[tool],
        max_output_tokens=32,
    )
    assert follow.status in ("completed", "incomplete")


def test_tool_choice_none_hides_tools(client):
    r = client.responses.create(model=MODEL, input="What's the weather in Rome?", tools=[WEATHER], tool_choice="none", max_output_tokens=24)
    assert all(o.type == "message" for o in r.output)
