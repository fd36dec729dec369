"""Talking to a Responses server: one persistent WebSocket (default) or stateless HTTP/SSE (fallback).

Both transports expose the same three operations, in protocol terms only:

    stream = transport.create(body)     # response.create; iterate server events up to the terminal one
    async for event in stream: ...      # dicts shaped like OpenAI's Responses streaming events
    await transport.cancel()            # cancel the response in flight (WebSocket: response.cancel)

A protocol `error` (e.g. previous_response_not_found) is raised as ResponsesError; a dead connection as
TransportClosed. Nothing here knows about agents, tools or files.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from abc import ABC, abstractmethod
from typing import Any, AsyncIterator

import httpx

TERMINAL = {"response.completed", "response.incomplete", "response.failed"}


class ResponsesError(Exception):
    def __init__(self, message: str, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class TransportClosed(ResponsesError):
    pass


def normalize_base_url(url: str) -> str:
    """'http://host:port', 'http://host:port/v1/' and 'ws://host:port/v1/responses' all name one server."""
    url = url.strip().rstrip("/")
    for suffix in ("/v1/responses", "/v1"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    if url.startswith("ws://"):
        url = "http://" + url[5:]
    elif url.startswith("wss://"):
        url = "https://" + url[6:]
    elif "://" not in url:
        url = "http://" + url
    return url


def _error_from(event: dict[str, Any]) -> ResponsesError:
    err = event.get("error") or {}
    return ResponsesError(err.get("message") or json.dumps(event), err.get("code"), event.get("status"))


class Transport(ABC):
    kind = "transport"

    def __init__(self, base_url: str, api_key: str | None = None):
        self.base_url = normalize_base_url(base_url)
        self.api_key = api_key
        self.current_response_id: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    async def open(self) -> None:  # noqa: B027 - optional
        pass

    async def close(self) -> None:  # noqa: B027 - optional
        pass

    @abstractmethod
    def create(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Start a response; yields its events up to and including the terminal one."""

    @abstractmethod
    async def cancel(self) -> None:
        """Cancel the response in flight, if any (a no-op otherwise)."""

    async def models(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10, headers=self.headers) as client:
            r = await client.get(self.base_url + "/v1/models")
            r.raise_for_status()
            return r.json().get("data", [])

    async def __aenter__(self) -> "Transport":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class WebSocketTransport(Transport):
    """ws://host/v1/responses: one connection, one response in flight, events read by one reader task."""

    kind = "websocket"

    def __init__(self, base_url: str, api_key: str | None = None, open_timeout: float = 10):
        super().__init__(base_url, api_key)
        self.url = "ws" + self.base_url[4:] + "/v1/responses"
        self.open_timeout = open_timeout
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._queue: asyncio.Queue = asyncio.Queue()
        self._in_flight = False
        self.reconnects = 0

    async def open(self) -> None:
        if self._ws is not None:
            return
        from websockets.asyncio.client import connect

        try:
            self._ws = await connect(
                self.url,
                additional_headers=self.headers or None,
                max_size=None,
                ping_interval=None,  # a long prefill must not look like a dead peer
                compression=None,  # local and latency-first: no deflate
                open_timeout=self.open_timeout,
                proxy=None,
            )
        except (OSError, asyncio.TimeoutError, Exception) as exc:  # websockets raises several kinds
            self._ws = None
            raise TransportClosed(f"cannot open a WebSocket to {self.url}: {exc}", "connection_failed") from exc
        self._queue = asyncio.Queue()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        ws = self._ws
        try:
            async for message in ws:
                event = json.loads(message)
                if event.get("type") == "error" and (event.get("error") or {}).get("code") == "response_cancel_not_active":
                    continue  # our cancel raced the end of the response: harmless
                self._queue.put_nowait(event)
        except Exception as exc:  # connection lost: wake the consumer
            self._queue.put_nowait(TransportClosed(f"WebSocket connection lost: {exc}", "connection_lost"))
            return
        reason = getattr(ws, "close_reason", None) or "closed by the server"
        self._queue.put_nowait(TransportClosed(f"WebSocket connection closed ({reason})", "connection_closed"))

    async def close(self) -> None:
        ws, self._ws = self._ws, None
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()

    async def create(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        if self._ws is None or (self._reader is not None and self._reader.done()):
            if self._ws is not None:
                await self.close()
                self.reconnects += 1
            await self.open()
        while not self._queue.empty():  # leftovers of a connection problem
            self._queue.get_nowait()
        self.current_response_id = None
        await self._ws.send(json.dumps({"type": "response.create", **body}))
        self._in_flight = True
        done = False
        try:
            while True:
                event = await self._queue.get()
                if isinstance(event, TransportClosed):
                    await self.close()
                    raise event
                kind = event.get("type")
                if kind == "error":
                    raise _error_from(event)
                if kind == "response.created":
                    self.current_response_id = event["response"]["id"]
                yield event
                if kind in TERMINAL:
                    done = True
                    return
        finally:
            self._in_flight = False
            if not done and self._ws is not None and self.current_response_id is not None:
                # The consumer stopped early: cancel and drain so the next response starts clean.
                await self._drain()

    async def _drain(self) -> None:
        with contextlib.suppress(Exception):
            await self._ws.send(json.dumps({"type": "response.cancel"}))
            while True:
                event = await asyncio.wait_for(self._queue.get(), 30)
                if isinstance(event, TransportClosed) or event.get("type") in TERMINAL or event.get("type") == "error":
                    return

    async def cancel(self) -> None:
        if self._ws is not None and self._in_flight:
            with contextlib.suppress(Exception):
                await self._ws.send(json.dumps({"type": "response.cancel"}))


class HttpTransport(Transport):
    """POST /v1/responses with stream=true (SSE); cancel is POST /v1/responses/{id}/cancel."""

    kind = "http"

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 600):
        super().__init__(base_url, api_key)
        self._client: httpx.AsyncClient | None = None
        self.timeout = timeout
        self._in_flight = False

    async def open(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout, connect=10), headers=self.headers)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def create(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        await self.open()
        self.current_response_id = None
        self._in_flight = True
        try:
            async with self._client.stream("POST", self.base_url + "/v1/responses", json={**body, "stream": True}) as r:
                if r.status_code != 200:
                    raw = await r.aread()
                    try:
                        raise _error_from({**json.loads(raw), "status": r.status_code})
                    except json.JSONDecodeError:
                        raise ResponsesError(f"HTTP {r.status_code}: {raw[:200]!r}", status=r.status_code) from None
                async for event in _sse_events(r):
                    kind = event.get("type")
                    if kind == "error":
                        raise _error_from(event)
                    if kind == "response.created":
                        self.current_response_id = event["response"]["id"]
                    yield event
                    if kind in TERMINAL:
                        return
            raise TransportClosed("the server ended the stream before the response finished", "stream_ended")
        except httpx.HTTPError as exc:
            raise TransportClosed(f"HTTP request to {self.base_url} failed: {exc}", "connection_failed") from exc
        finally:
            self._in_flight = False

    async def cancel(self) -> None:
        rid = self.current_response_id
        if rid is None or not self._in_flight:
            return
        with contextlib.suppress(httpx.HTTPError):
            async with httpx.AsyncClient(timeout=10, headers=self.headers) as client:
                await client.post(f"{self.base_url}/v1/responses/{rid}/cancel")


async def _sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield json.loads("\n".join(data))
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    if data:
        yield json.loads("\n".join(data))


def make_transport(base_url: str, kind: str = "websocket", api_key: str | None = None) -> Transport:
    if kind in ("ws", "websocket"):
        return WebSocketTransport(base_url, api_key)
    if kind == "http":
        return HttpTransport(base_url, api_key)
    raise ValueError(f"unknown transport {kind!r}: use websocket or http")
