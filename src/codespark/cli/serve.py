"""`codespark serve`: load the model(s) and serve the Responses API over HTTP/SSE and WebSocket."""

from __future__ import annotations

import argparse
import sys

from ..config import ServerConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    cfg = ServerConfig()
    p.add_argument("--model", action="append", dest="models", metavar="ID|PATH",
                   help="catalog id (see `codespark model list`) or a local .gguf file; repeat to serve several; the first is the default (default: qwen2.5-coder-0.5b)")
    p.add_argument("--host", default=cfg.host, help="address to bind (default 127.0.0.1; anything else requires --api-key)")
    p.add_argument("--port", type=int, default=cfg.port, help=f"port (default {cfg.port})")
    p.add_argument("--ctx-size", type=int, default=cfg.ctx_size, help="context window in tokens: 32768 (default) or up to 131072 with YaRN rope scaling")
    p.add_argument("--threads", type=int, default=cfg.threads, help="CPU threads (default: all cores)")
    p.add_argument("--slots", type=int, default=cfg.slots, help="conversations kept warm in the KV cache at once (default 4)")
    p.add_argument("--api-key", action="append", dest="api_keys", default=None, help="accepted bearer key (repeatable; or CODESPARK_API_KEYS)")
    p.add_argument("--draft-model", default=cfg.draft_model, metavar="ID|PATH",
                   help="a smaller model with the same vocabulary that drafts tokens for speculative decoding "
                        "(e.g. qwen2.5-coder-0.5b for the 1.5B); used only where it pays")
    p.add_argument("--shared-kv", action=argparse.BooleanOptionalAction, default=cfg.shared_kv,
                   help="keep all warm conversations in one KV pool of --ctx-size cells instead of --ctx-size cells "
                        "each: --slots times less KV memory, but slower attention (or CODESPARK_SHARED_KV=1)")
    p.add_argument("--flash-attn", action=argparse.BooleanOptionalAction, default=cfg.flash_attn,
                   help="llama.cpp flash attention (default: off, which is faster on CPU; on with --shared-kv, where "
                        "it skips other conversations' cells; see docs/benchmarks/profile.md; or CODESPARK_FLASH_ATTN)")
    p.add_argument("--prefill-flash-attn", action=argparse.BooleanOptionalAction, default=cfg.prefill_flash_attn,
                   help="prefill long uncached prompts with flash attention in a second context, then move the KV "
                        "over (default: on where llama.cpp has AVX-512 kernels, where that is faster; costs one more "
                        "--ctx-size of KV memory; or CODESPARK_PREFILL_FLASH_ATTN)")
    p.add_argument("--prefill-reencode", action=argparse.BooleanOptionalAction, default=cfg.prefill_reencode,
                   help="run that prefill on an exact Q8_0 copy of the model's Q5_0 weights, made once under the "
                        "model cache: the same numbers, faster kernels; costs a second copy of the weights in "
                        "memory (default: on; or CODESPARK_PREFILL_REENCODE=0)")
    p.add_argument("--store", default=str(cfg.store_path), help="SQLite file for stored responses")
    p.add_argument("--log-level", default=cfg.log_level, help="debug, info, warning (default), error")


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    cfg = ServerConfig()
    cfg.models = args.models or cfg.models
    cfg.host, cfg.port, cfg.ctx_size, cfg.threads, cfg.slots = args.host, args.port, args.ctx_size, args.threads, args.slots
    cfg.api_keys = args.api_keys or cfg.api_keys
    cfg.store_path = args.store
    cfg.draft_model = args.draft_model
    cfg.flash_attn = args.flash_attn
    cfg.prefill_flash_attn = args.prefill_flash_attn
    cfg.prefill_reencode = args.prefill_reencode
    cfg.shared_kv = args.shared_kv
    cfg.log_level = args.log_level
    return cfg


def run(args: argparse.Namespace) -> int:
    from .server import ConfigError, serve

    cfg = config_from_args(args)
    try:
        return serve(cfg)
    except ConfigError as exc:
        print(f"codespark: {exc}", file=sys.stderr)
        return 2
