"""Bearer API keys. Required whenever the server listens beyond loopback."""

from __future__ import annotations

import hmac

from ..protocol.errors import APIError


class KeyCheck:
    def __init__(self, keys: list[str] | None):
        self.keys = [k for k in (keys or []) if k]

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def check(self, authorization: str | None) -> None:
        if not self.keys:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not any(hmac.compare_digest(token.strip(), k) for k in self.keys):
            raise APIError(
                401,
                "Incorrect or missing API key. Send 'Authorization: Bearer <key>' with a key given to 'codespark serve --api-key'.",
                type="invalid_request_error",
                code="invalid_api_key",
            )
