"""Configuration in one typed place: defaults, overridden by CODESPARK_* environment variables, then flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

DEFAULT_PORT = 7433
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def state_dir() -> Path:
    return Path(os.environ.get("CODESPARK_STATE_DIR") or platformdirs.user_state_dir("codespark"))


def _env_list(name: str) -> list[str]:
    return [v.strip() for v in os.environ.get(name, "").split(",") if v.strip()]


def _env_bool(name: str) -> bool | None:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return None
    return value not in ("0", "false", "no", "off")


@dataclass
class ServerConfig:
    models: list[str] = field(default_factory=lambda: _env_list("CODESPARK_MODELS"))  # catalog ids or GGUF paths; first is default
    host: str = os.environ.get("CODESPARK_HOST", "127.0.0.1")
    port: int = int(os.environ.get("CODESPARK_PORT", DEFAULT_PORT))
    ctx_size: int = int(os.environ.get("CODESPARK_CTX_SIZE", 32768))
    threads: int = int(os.environ.get("CODESPARK_THREADS", 0))
    slots: int = int(os.environ.get("CODESPARK_SLOTS", 4))
    prefill_chunk: int = int(os.environ.get("CODESPARK_PREFILL_CHUNK", 512))
    flash_attn: bool | None = _env_bool("CODESPARK_FLASH_ATTN")  # None: the faster choice for the KV layout
    # None: on with AVX-512 kernels (prompts prefill with flash attention in a second context)
    prefill_flash_attn: bool | None = _env_bool("CODESPARK_PREFILL_FLASH_ATTN")
    # that context runs on an exact Q8_0 copy of the model's Q5_0 weights (faster kernels, same numbers)
    prefill_reencode: bool = _env_bool("CODESPARK_PREFILL_REENCODE") is not False
    shared_kv: bool = bool(_env_bool("CODESPARK_SHARED_KV"))  # one KV pool for all slots: less memory, slower
    draft_model: str | None = os.environ.get("CODESPARK_DRAFT_MODEL") or None  # catalog id or GGUF path
    api_keys: list[str] = field(default_factory=lambda: _env_list("CODESPARK_API_KEYS"))
    store_path: Path = field(default_factory=lambda: Path(os.environ.get("CODESPARK_STORE") or state_dir() / "responses.sqlite3"))
    ws_max_age_s: float = float(os.environ.get("CODESPARK_WS_MAX_AGE_S", 3600))
    log_level: str = os.environ.get("CODESPARK_LOG_LEVEL", "warning")

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")
