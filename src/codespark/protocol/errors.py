"""OpenAI-shaped errors: {"error": {"type", "code", "message", "param"}} with an HTTP status."""

from __future__ import annotations


class APIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param

    def body(self) -> dict:
        return {"error": {"type": self.type, "code": self.code, "message": self.message, "param": self.param}}

    def ws_event(self) -> dict:
        """The WebSocket form: an `error` event carrying the HTTP status it would have had."""
        return {"type": "error", "status": self.status, **self.body()}


def invalid(message: str, param: str | None = None, code: str = "invalid_value") -> APIError:
    return APIError(400, message, code=code, param=param)


def not_found(message: str, code: str = "not_found", param: str | None = None) -> APIError:
    return APIError(404, message, code=code, param=param)


def server_error(message: str = "The server had an error while processing your request.") -> APIError:
    return APIError(500, message, type="server_error", code="server_error")
