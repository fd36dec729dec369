"""Build engines, store and app from a ServerConfig and run uvicorn."""

from __future__ import annotations

import logging
import time

import uvicorn

from ..api.app import create_app
from ..api.store import ResponseStore
from ..api.websocket import WebSocketLimits
from ..config import ServerConfig
from ..engine import Engine, RuntimeConfig
from ..engine.runtime import KVCacheTooLarge
from ..models import DEFAULT_MODEL_ID, ModelInstallError, resolve_model

MAX_CTX = 131072
MAX_SLOTS = 256  # llama.cpp's limit on sequences in one context


class ConfigError(Exception):
    pass


def build_engines(cfg: ServerConfig) -> dict[str, Engine]:
    if not 512 <= cfg.ctx_size <= MAX_CTX:
        raise ConfigError(f"--ctx-size must be between 512 and {MAX_CTX} tokens (got {cfg.ctx_size}).")
    if not 1 <= cfg.slots <= MAX_SLOTS:
        raise ConfigError(f"--slots must be between 1 and {MAX_SLOTS} (got {cfg.slots}).")
    engines: dict[str, Engine] = {}
    draft_path = None
    if cfg.draft_model:
        try:
            draft_path = resolve_model(cfg.draft_model).path
        except ModelInstallError as exc:
            raise ConfigError(f"--draft-model: {exc}") from None
    for name in cfg.models or [DEFAULT_MODEL_ID]:
        try:
            resolved = resolve_model(name)
        except ModelInstallError as exc:
            raise ConfigError(str(exc)) from None
        native = resolved.spec.native_context if resolved.spec else 32768
        runtime = RuntimeConfig(n_ctx=cfg.ctx_size, n_threads=cfg.threads, n_seq_max=cfg.slots, native_context=native,
                                kv_per_conversation=not cfg.shared_kv, flash_attn=cfg.flash_attn,
                                prefill_flash_attn=cfg.prefill_flash_attn, prefill_reencode=cfg.prefill_reencode)
        try:
            draft = draft_path if draft_path is not None and draft_path != resolved.path else None
            engines[resolved.id] = Engine(resolved.id, resolved.path, runtime, prefill_chunk=cfg.prefill_chunk,
                                          draft_model_path=draft)
        except KVCacheTooLarge as exc:
            raise ConfigError(f"{resolved.id}: {exc}: lower --slots ({cfg.slots}) or --ctx-size ({cfg.ctx_size}), "
                              "or pass --shared-kv (one pool for all slots)") from None
        except (ValueError, RuntimeError) as exc:
            raise ConfigError(f"could not load {resolved.path}: {exc}") from None
    return engines


def serve(cfg: ServerConfig) -> int:
    if not cfg.is_loopback and not cfg.api_keys:
        raise ConfigError(
            f"refusing to listen on {cfg.host} without API keys: pass --api-key KEY (or set CODESPARK_API_KEYS), "
            "or listen on 127.0.0.1."
        )
    logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    engines = build_engines(cfg)
    store = ResponseStore(cfg.store_path)
    app = create_app(engines, store, api_keys=cfg.api_keys, ws_limits=WebSocketLimits(max_age_s=cfg.ws_max_age_s))
    host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host

    @app.on_event("startup")
    async def announce() -> None:
        names = ", ".join(f"{n} (ctx {e.n_ctx})" for n, e in engines.items())
        print(f"codespark: serving {names}, loaded in {time.perf_counter() - t0:.1f}s", flush=True)
        print(f"codespark: listening on http://{host}:{cfg.port}/v1  (WebSocket: ws://{host}:{cfg.port}/v1/responses)", flush=True)

    config = uvicorn.Config(
        app,
        host=cfg.host,
        port=cfg.port,
        log_level=cfg.log_level,
        access_log=cfg.log_level in ("debug", "info"),
        ws="websockets-sansio",
        ws_max_size=64 * 1024 * 1024,  # the app answers messages over its own 16 MiB limit with an error event
        ws_ping_interval=None,  # long prefills must not look like a dead peer
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    try:
        server.run()
    finally:
        for engine in engines.values():
            engine.close()
        store.close()
    return 0 if server.started else 1
