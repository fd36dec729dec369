"""Turning what the user typed (`--model`) into a GGUF file: a catalog id or a path to a local GGUF."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .catalog import CATALOG, ModelSpec
from .chunks import ChunkLocator
from .errors import ModelInstallError
from .install import ensure_model_file

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class ResolvedModel:
    id: str
    path: Path
    spec: ModelSpec | None  # None for a local file the catalog knows nothing about


def is_gguf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == GGUF_MAGIC
    except OSError:
        return False


def resolve_model(
    name_or_path: str, cache_dir: Path | None = None, locate_chunk: ChunkLocator | None = None
) -> ResolvedModel:
    spec = CATALOG.get(name_or_path)
    if spec is not None:
        return ResolvedModel(id=spec.id, path=ensure_model_file(spec, cache_dir, locate_chunk), spec=spec)

    path = Path(name_or_path).expanduser()
    if path.is_file():
        # Checked here so a wrong file fails with a clear message instead of deep inside the loader.
        if not is_gguf(path):
            raise ModelInstallError(f"{path} is not a GGUF model file (it does not start with the bytes 'GGUF').")
        return ResolvedModel(id=path.stem, path=path.resolve(), spec=None)

    known = ", ".join(CATALOG)
    problem = "is a directory, not a file" if path.is_dir() else "is neither a known model id nor an existing file"
    raise ModelInstallError(
        f"{name_or_path!r} {problem}. Use one of the catalog models ({known}) or the path to a local .gguf file."
    )
