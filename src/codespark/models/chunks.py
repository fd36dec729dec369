"""Finding the chunk files inside installed chunk packages, without running any of their code.

The chunk packages are untrusted (their names are unrelated to their contents), so we never import them:
`importlib.util.find_spec` on a top-level name only searches sys.path, and the sha256 of the joined file is
checked before anything uses the bytes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Callable

from .catalog import ModelSpec, install_hint
from .errors import ModelInstallError

# Given a distribution name, return the path of its single chunk file (or raise ModelInstallError).
ChunkLocator = Callable[[str], Path]


def module_name(package: str) -> str:
    return package.replace("-", "_").replace(".", "_")


def find_package_dir(package: str) -> Path | None:
    """The installed package's directory, or None if it is not installed."""
    try:
        found = importlib.util.find_spec(module_name(package))
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations)))


def is_installed(package: str) -> bool:
    return find_package_dir(package) is not None


class ChunkPackageMissing(ModelInstallError):
    """A chunk package is not installed; `locate_chunks` turns these into one message with the fix."""

    def __init__(self, package: str):
        super().__init__(f"chunk package {package!r} is not installed")
        self.package = package


def chunk_file(package: str) -> Path:
    """The package's single `data/partNN.bin`."""
    package_dir = find_package_dir(package)
    if package_dir is None:
        raise ChunkPackageMissing(package)
    parts = sorted(p for p in (package_dir / "data").glob("part*.bin") if p.is_file())
    if len(parts) != 1:
        raise ModelInstallError(
            f"chunk package {package!r} at {package_dir} should hold exactly one data/partNN.bin, found {len(parts)}"
        )
    return parts[0]


def locate_chunks(spec: ModelSpec, locate_chunk: ChunkLocator | None = None) -> list[Path]:
    """All chunk files of a model in join order; failures name the model, the package(s) and the fix."""
    locate = locate_chunk or chunk_file
    paths: list[Path] = []
    missing: list[str] = []
    for name in spec.chunk_packages:
        try:
            paths.append(locate(name))
        except ChunkPackageMissing:
            missing.append(name)  # keep going, so the message lists every missing package at once
        except ModelInstallError as exc:
            raise ModelInstallError(
                f"Model {spec.id!r} cannot be installed: {exc}. To fix it, {install_hint(spec, reinstall=True)}."
            ) from None
    if missing:
        raise ModelInstallError(_missing_message(spec, missing))
    return paths


def _missing_message(spec: ModelSpec, missing: list[str]) -> str:
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    what = "optional" if spec.extra else "required"
    plural = len(missing) > 1
    return (
        f"Model {spec.id!r} needs its {what} chunk package{'s' if plural else ''} {shown}, "
        f"which {'are' if plural else 'is'} not installed. To fix it, {install_hint(spec)}."
    )
