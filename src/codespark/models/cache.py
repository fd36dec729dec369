"""The model cache directory: where joined files live, their verification stamps, and the join lock."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Iterator

from platformdirs import user_cache_dir

from .catalog import ModelSpec

log = logging.getLogger(__name__)

try:  # POSIX only; elsewhere concurrent first starts are simply not serialized.
    import fcntl
except ImportError:  # pragma: no cover - not reachable on Linux/macOS
    fcntl = None  # type: ignore[assignment]


def default_cache_dir() -> Path:
    return Path(user_cache_dir("codespark")) / "models"


def model_path(spec: ModelSpec, cache_dir: Path) -> Path:
    return cache_dir / spec.upstream_file


def stamp_path(final: Path) -> Path:
    return final.with_name(final.name + ".verified")


def temp_prefix(spec: ModelSpec) -> str:
    # Hidden and distinct from the final name, so nothing ever mistakes a partial join for the model.
    return f".{spec.upstream_file}."


TEMP_SUFFIX = ".partial"


def stamp_matches(final: Path, spec: ModelSpec) -> bool:
    """True when `final` is the file we verified earlier, judged by a stamp instead of re-hashing it.

    The stamp is written only after a full sha256 check; size and mtime_ns catch a file replaced or modified since.
    """
    try:
        st = final.stat()
        stamp = json.loads(stamp_path(final).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(stamp, dict)
        and stamp.get("sha256") == spec.sha256
        and stamp.get("size") == st.st_size == spec.size
        and stamp.get("mtime_ns") == st.st_mtime_ns
    )


def write_stamp(final: Path, spec: ModelSpec) -> None:
    """Record that `final` passed the sha256 check. Failing to write it only costs a re-hash on the next start."""
    stamp = stamp_path(final)
    tmp = stamp.with_name(stamp.name + TEMP_SUFFIX)
    try:
        st = final.stat()
        tmp.write_text(json.dumps({"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
        os.replace(tmp, stamp)
    except OSError as exc:
        log.warning("could not write verification stamp %s (%s); the model will be re-verified next time", stamp, exc)
        with contextlib.suppress(OSError):
            tmp.unlink()


def remove_stamp(final: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        stamp_path(final).unlink()


def join_lock(cache_dir: Path, spec: ModelSpec) -> contextlib.AbstractContextManager[None]:
    """Exclusive per-model lock, so two processes starting at once do not both join (or delete each other's work)."""
    return file_lock(cache_dir / f".{spec.upstream_file}.lock")


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock held through `path` (flock: released when the process dies, too)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by close, including when the process dies
        yield
    finally:
        os.close(fd)
