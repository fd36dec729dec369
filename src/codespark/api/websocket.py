"""WebSocket mode on /v1/responses: a persistent connection carrying response.create/cancel events.

One response in flight per connection; conversations continue from a connection-local cache (then the
store) by previous_response_id; every error is an `error` event and the connection stays usable.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ..protocol.errors import APIError, server_error
from .auth import KeyCheck
from .schemas import parse_create_request
from .service import ConversationCache, ResponseRun, ResponseService

log = logging.getLogger("codespark.api.ws")


@dataclass
class WebSocketLimits:
    max_age_s: float = 60 * 60  # OpenAI closes a Responses WebSocket after 60 minutes
    max_message_bytes: int = 16 * 1024 * 1024


class ResponsesConnection:
    def __init__(self, ws: WebSocket, service: ResponseService, limits: WebSocketLimits):
        self.ws = ws
        self.service = service
        self.limits = limits
        self.cache = ConversationCache()
        self.current: ResponseRun | None = None
        self._pump: asyncio.Task | None = None
        self._send_lock = asyncio.Lock()
        self._closed = False

    async def send(self, event: dict) -> None:
        if self._closed:
            return
        async with self._send_lock:
            try:
                await self.ws.send_text(json.dumps(event, separators=(",", ":")))
            except (WebSocketDisconnect, RuntimeError):
                self._closed = True

    async def send_error(self, err: APIError, stream_id: object = None) -> None:
        self.service.metrics.error("websocket", err.code)
        event = err.ws_event()
        if isinstance(stream_id, str):
            event["stream_id"] = stream_id
        await self.send(event)

    async def serve(self) -> None:
        timer = asyncio.get_running_loop().create_task(self._expire())
        try:
            while not self._closed:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("text")
                if data is None and message.get("bytes") is not None:
                    data = message["bytes"]
                await self._handle(data)
        except WebSocketDisconnect:
            pass
        finally:
            self._closed = True
            timer.cancel()
            if self.current is not None:
                self.current.cancel()

    async def _expire(self) -> None:
        await asyncio.sleep(self.limits.max_age_s)
        await self.send_error(
            APIError(
                400,
                f"Responses websocket connection limit reached ({self.limits.max_age_s / 60:g} minutes). Create a new websocket connection to continue.",
                code="websocket_connection_limit_reached",
            )
        )
        if self.current is not None:
            self.current.cancel()
        self._closed = True
        if self.ws.client_state == WebSocketState.CONNECTED:
            await self.ws.close(code=1000, reason="websocket_connection_limit_reached")

    async def _handle(self, data: str | bytes | None) -> None:
        size = len(data) if data is not None else 0
        if size > self.limits.max_message_bytes:
            await self.send_error(
                APIError(400, f"Message of {size} bytes exceeds the limit of {self.limits.max_message_bytes} bytes.", code="message_too_large")
            )
            return
        try:
            event = json.loads(data or "")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            await self.send_error(APIError(400, f"Could not parse the message as JSON ({exc}).", code="invalid_json"))
            return
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            await self.send_error(APIError(400, "Each message must be a JSON object with a string 'type'.", code="invalid_event", param="type"))
            return
        kind = event["type"]
        try:
            if kind == "response.create":
                await self._create(event)
            elif kind == "response.cancel":
                await self._cancel()
            else:
                raise APIError(
                    400,
                    f"Unknown event type '{kind}'. Supported: response.create, response.cancel.",
                    code="unknown_event_type",
                    param="type",
                )
        except APIError as err:
            await self.send_error(err, event.get("stream_id"))
        except Exception:  # a bug must not cost the client its connection
            log.exception("websocket event failed")
            await self.send_error(server_error("The server had an error while processing the event."))

    async def _create(self, event: dict) -> None:
        if self.current is not None and not self.current.finished.is_set():
            raise APIError(
                400,
                f"A response ({self.current.id}) is already in flight on this connection; wait for it to finish or send response.cancel.",
                code="response_already_in_flight",
            )
        body = {k: v for k, v in event.items() if k not in ("type", "stream")}  # stream is implicit here
        req = parse_create_request(body)
        if req.background:
            raise APIError(400, "background is not supported over WebSocket.", code="invalid_value", param="background")
        run = await self.service.create(req, cache=self.cache, transport="websocket")
        self.current = run
        self._pump = asyncio.get_running_loop().create_task(self._forward(run, req.stream_id))

    async def _forward(self, run: ResponseRun, stream_id: str | None) -> None:
        try:
            async for ev in run.stream():
                if stream_id is not None:
                    ev = {**ev, "stream_id": stream_id}
                await self.send(ev)
        finally:
            if self.current is run:
                self.current = None

    async def _cancel(self) -> None:
        run = self.current
        if run is None or run.finished.is_set():
            raise APIError(400, "There is no response in flight to cancel.", code="response_cancel_not_active")
        run.cancel()


def websocket_endpoint(service: ResponseService, keys: KeyCheck, limits: WebSocketLimits):
    async def responses_websocket(ws: WebSocket) -> None:
        try:
            keys.check(ws.headers.get("authorization"))
        except APIError:
            await ws.close(code=1008, reason="invalid_api_key")
            return
        await ws.accept()
        service.metrics.websocket_connections.inc()
        try:
            await ResponsesConnection(ws, service, limits).serve()
        finally:
            service.metrics.websocket_connections.dec()

    return responses_websocket
