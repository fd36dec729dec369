"""HTTP routes: POST /v1/responses (plain or SSE), retrieve, delete, cancel, chat completions, models, health, metrics."""

from __future__ import annotations

import json
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..protocol.errors import APIError, not_found, server_error
from . import chat_completions as chat_api
from .metrics import CONTENT_TYPE
from .schemas import parse_create_request
from .service import ResponseService


def sse(event: dict) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def sse_data(obj: dict) -> bytes:
    """Chat Completions streams carry no event names."""
    return f"data: {json.dumps(obj, separators=(',', ':'))}\n\n".encode()


async def read_json(request: Request) -> object:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"We could not parse the JSON body of your request ({exc}).", code="invalid_json") from None


def build_router(service: ResponseService, started_at: float) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/responses")
    async def create_response(request: Request):
        req = parse_create_request(await read_json(request))
        if req.background and req.store is False:
            raise APIError(400, "Background responses must be stored: drop 'store: false'.", code="invalid_value", param="store")
        run = await service.create(req, transport="sse" if req.stream else "http")
        if req.stream:
            async def events():
                try:
                    async for event in run.stream():
                        yield sse(event)
                finally:
                    if not req.background and not run.finished.is_set():
                        run.cancel()  # the client went away: stop generating at once

            return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        if req.background:
            return JSONResponse(run.builder.snapshot())
        response = await run.wait()
        if response["status"] == "failed":
            raise server_error((response.get("error") or {}).get("message", "generation failed"))
        return JSONResponse(response)

    @router.get("/v1/responses/{response_id}")
    async def retrieve_response(response_id: str):
        run = service.in_flight.get(response_id)
        if run is not None:
            return JSONResponse(run.builder.snapshot())
        stored = service.store.get(response_id)
        if stored is None:
            raise not_found(f"No response found with id '{response_id}'.", param="response_id")
        return JSONResponse(stored)

    @router.delete("/v1/responses/{response_id}")
    async def delete_response(response_id: str):
        run = service.in_flight.get(response_id)
        if run is not None:
            run.cancel()
            await run.finished.wait()
        if not service.store.delete(response_id) and run is None:
            raise not_found(f"No response found with id '{response_id}'.", param="response_id")
        return JSONResponse({"id": response_id, "object": "response.deleted", "deleted": True})

    @router.post("/v1/responses/{response_id}/cancel")
    async def cancel_response(response_id: str):
        run = service.in_flight.get(response_id)
        if run is not None:
            run.cancel()
            return JSONResponse(await run.wait())
        stored = service.store.get(response_id)
        if stored is None:
            raise not_found(f"No response found with id '{response_id}'.", param="response_id")
        raise APIError(400, f"Response '{response_id}' is not in progress (status: {stored.get('status')}); only a response in progress can be cancelled.", code="invalid_state")

    @router.get("/v1/models")
    async def list_models():
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": int(started_at), "owned_by": "codespark", "context_window": engine.n_ctx}
                for name, engine in service.engines.items()
            ],
        }

    @router.get("/v1/models/{model_id}")
    async def get_model(model_id: str):
        engine = service.engine_for(model_id)
        return {"id": model_id, "object": "model", "created": int(started_at), "owned_by": "codespark", "context_window": engine.n_ctx}

    @router.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        body = await read_json(request)
        stream = isinstance(body, dict) and body.get("stream") is True
        chat, include_usage = await chat_api.start(service, body, stream=stream)
        if not stream:
            async for _ in chat.deltas():
                pass
            if chat.error:
                raise server_error(chat.error.get("message", "generation failed"))
            return JSONResponse(chat.completion())

        async def chunks():
            try:
                yield sse_data(chat.chunk({"role": "assistant", "content": ""}))
                async for delta in chat.deltas():
                    yield sse_data(chat.chunk(delta))
                if chat.error:
                    yield sse_data(server_error(chat.error.get("message", "generation failed")).body())
                else:
                    yield sse_data(chat.chunk({}, chat.finish_reason))
                    if include_usage:
                        yield sse_data({**chat.chunk({}), "choices": [], "usage": chat.usage})
                yield b"data: [DONE]\n\n"
            finally:
                if not chat.run.finished.is_set():
                    chat.run.cancel()  # the client went away: stop generating at once

        return StreamingResponse(chunks(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @router.get("/metrics")
    def metrics():
        # a plain def: FastAPI runs it in a worker thread, so reading engine stats never blocks the event loop
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    @router.get("/healthz")
    async def health():
        return {"status": "ok", "models": {name: engine.stats() for name, engine in service.engines.items()}, "uptime_s": round(time.time() - started_at, 1)}

    return router
