"""Validation of a create-response body at the edge.

Every field the Responses API documents is accepted (extra fields pass through); the ones codespark acts
on are typed and checked here, so a wrong type gets a precise OpenAI-style error naming the parameter.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from ..protocol.errors import APIError


class CreateResponseRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: StrictStr | None = None
    input: Union[StrictStr, list[dict[str, Any]], None] = None
    instructions: StrictStr | list[dict[str, Any]] | None = None
    previous_response_id: StrictStr | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Union[StrictStr, dict[str, Any], None] = None
    parallel_tool_calls: StrictBool | None = None
    max_output_tokens: StrictInt | None = Field(default=None, ge=1)
    temperature: Union[StrictFloat, StrictInt, None] = Field(default=None, ge=0, le=2)
    top_p: Union[StrictFloat, StrictInt, None] = Field(default=None, ge=0, le=1)
    store: StrictBool | None = None
    metadata: dict[StrictStr, StrictStr] | None = None
    stream: StrictBool | None = None
    background: StrictBool | None = None
    generate: StrictBool | None = None
    truncation: Literal["auto", "disabled"] | None = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    stream_id: StrictStr | None = None


_TYPE_NAMES = {
    "string_type": "a string",
    "bool_type": "a boolean",
    "int_type": "an integer",
    "float_type": "a number",
    "list_type": "an array",
    "dict_type": "an object",
}


def _describe(value: Any) -> str:
    return {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "an array", dict: "an object", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _locate(body: Any, loc: tuple) -> tuple[str, Any]:
    """Follow pydantic's error location through the body, skipping the union-member tags it inserts."""
    path, current = "", body
    for part in loc:
        if isinstance(current, dict) and isinstance(part, str) and part in current:
            path = f"{path}.{part}" if path else part
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            path = f"{path}[{part}]"
            current = current[part]
    return path, current


def parse_create_request(body: Any) -> CreateResponseRequest:
    if not isinstance(body, dict):
        raise APIError(400, "The request body must be a JSON object.", code="invalid_json")
    try:
        req = CreateResponseRequest.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        param, value = _locate(body, err.get("loc", ()))
        top = param.split(".")[0].split("[")[0] if param else None
        kind = err.get("type", "")
        if kind in ("greater_than_equal", "less_than_equal"):
            message = f"Invalid '{param}': {err['msg'].lower()}."
            code = "invalid_value"
        elif kind == "literal_error":
            message = f"Invalid value for '{param}': {err['msg']}."
            code = "invalid_value"
        else:
            expected = _TYPE_NAMES.get(kind)
            got = _describe(value)
            message = (
                f"Invalid type for '{param}': expected {expected}, but got {got} instead."
                if expected
                else f"Invalid value for '{param}': {err['msg']}."
            )
            code = "invalid_type"
        raise APIError(400, message, code=code, param=param or top) from None
    if req.metadata is not None and len(req.metadata) > 16:
        raise APIError(400, "Invalid 'metadata': at most 16 key-value pairs are allowed.", code="invalid_value", param="metadata")
    return req
