"""Bad input over HTTP: an OpenAI-shaped error with the right status, and the server keeps serving."""

import httpx
import openai
import pytest

MODEL = "qwen2.5-coder-0.5b"


def post(base_url, body, **kw):
    return httpx.post(base_url + "/v1/responses", timeout=60, **({"json": body} if not isinstance(body, (bytes, str)) else {"content": body}), **kw)


def assert_error(resp, status, code=None, param=None):
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) >= {"type", "code", "message", "param"}
    assert err["message"]
    if code:
        assert err["code"] == code
    if param:
        assert err["param"] == param
    return err


def test_malformed_json(base_url):
    assert_error(post(base_url, b'{"model": "x", "input": ', headers={"content-type": "application/json"}), 400, "invalid_json")


def test_body_not_an_object(base_url):
    assert_error(post(base_url, [1, 2, 3]), 400)


@pytest.mark.parametrize(
    "field,value",
    [("temperature", "hot"), ("max_output_tokens", "ten"), ("input", 42), ("tools", {"a": 1}), ("stream", "yes"), ("metadata", [1])],
)
def test_wrong_types_name_the_parameter(base_url, field, value):
    body = {"model": MODEL, "input": "hi", field: value}
    err = assert_error(post(base_url, body), 400)
    assert err["param"] == field
    assert field in err["message"]


def test_out_of_range(base_url):
    assert_error(post(base_url, {"model": MODEL, "input": "hi", "temperature": 5}), 400, "invalid_value", "temperature")
    assert_error(post(base_url, {"model": MODEL, "input": "hi", "max_output_tokens": 0}), 400, "invalid_value", "max_output_tokens")


def test_unknown_model(client):
    with pytest.raises(openai.NotFoundError) as err:
        client.responses.create(model="gpt-imaginary", input="hi")
    assert err.value.code == "model_not_found"


def test_missing_input(base_url):
    assert_error(post(base_url, {"model": MODEL}), 400, "missing_required_parameter", "input")


def test_bad_items(base_url):
    assert_error(post(base_url, {"model": MODEL, "input": [{"role": "wizard", "content": "hi"}]}), 400, param="input[0].role")
    assert_error(post(base_url, {"model": MODEL, "input": [{"type": "function_call_output"}]}), 400, param="input[0].call_id")
    assert_error(post(base_url, {"model": MODEL, "input": "hi", "tools": [{"type": "function"}]}), 400, param="tools[0].name")
    assert_error(post(base_url, {"model": MODEL, "input": "hi", "tool_choice": {"type": "function", "name": "nope"}}), 400)


def test_input_longer_than_context(base_url, client):
    huge = "def f():\n    return 1\n" * 9000  # ~ 100k tokens, far beyond the 32k window
    err = assert_error(post(base_url, {"model": MODEL, "input": huge, "max_output_tokens": 4}), 400, "context_length_exceeded", "input")
    assert "context window" in err["message"]
    assert client.responses.create(model=MODEL, input="still alive?", max_output_tokens=2).status in ("completed", "incomplete")


def test_unknown_previous_response(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model=MODEL, input="hi", previous_response_id="resp_doesnotexist")
    assert err.value.code == "previous_response_not_found"


def test_unknown_response_ids(client, base_url):
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_nope")
    with pytest.raises(openai.NotFoundError):
        client.responses.delete("resp_nope")
    assert_error(httpx.post(base_url + "/v1/responses/resp_nope/cancel"), 404)


def test_unknown_route_is_openai_shaped(base_url):
    assert_error(httpx.get(base_url + "/v1/nothing-here"), 404)
