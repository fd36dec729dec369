"""The FastAPI application: routes, errors and auth around one ResponseService."""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..engine import Engine
from ..protocol.errors import APIError, server_error
from .auth import KeyCheck
from .http_routes import build_router
from .service import ResponseService
from .store import ResponseStore
from .websocket import WebSocketLimits, websocket_endpoint

log = logging.getLogger("codespark.api")

ENDPOINTS = ("POST /v1/responses (also a WebSocket there), GET/DELETE /v1/responses/{id}, "
             "POST /v1/responses/{id}/cancel, POST /v1/chat/completions, GET /v1/models, GET /healthz, GET /metrics")


def create_app(
    engines: dict[str, Engine],
    store: ResponseStore,
    *,
    default_model: str | None = None,
    api_keys: list[str] | None = None,
    ws_limits: WebSocketLimits | None = None,
) -> FastAPI:
    app = FastAPI(title="codespark", version="0.1.0", docs_url=None, redoc_url=None)
    service = ResponseService(engines, store, default_model or next(iter(engines)))
    keys = KeyCheck(api_keys)
    app.state.service = service

    def refuse(err: APIError) -> JSONResponse:
        service.metrics.error("http", err.code)
        return JSONResponse(err.body(), status_code=err.status)

    @app.middleware("http")
    async def require_key(request: Request, call_next):
        if keys.enabled and request.url.path != "/healthz":
            try:
                keys.check(request.headers.get("authorization"))
            except APIError as err:
                return refuse(err)
        return await call_next(request)

    @app.exception_handler(APIError)
    async def api_error(_: Request, err: APIError):
        return refuse(err)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        message = str(exc.detail)
        if exc.status_code in (404, 405):  # e.g. a client that wants embeddings or legacy completions: say what is served here
            message = f"{request.method} {request.url.path} is not served here. codespark serves: {ENDPOINTS}."
        return refuse(APIError(exc.status_code, message, code=code))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError):
        return refuse(APIError(400, str(exc.errors()[0].get("msg")), code="invalid_value"))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception):
        log.exception("unhandled error")
        return refuse(server_error())

    app.include_router(build_router(service, time.time()))
    app.add_api_websocket_route("/v1/responses", websocket_endpoint(service, keys, ws_limits or WebSocketLimits()))
    return app
