"""Turning a catalog entry into a verified GGUF file in the cache, once.

The join is hashed while it is copied, written to a hidden temp file in the cache directory, fsynced, checked
(size and sha256), and only then renamed onto the final path, so the final path only ever holds a verified file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

from .cache import (
    TEMP_SUFFIX,
    default_cache_dir,
    join_lock,
    model_path,
    remove_stamp,
    stamp_matches,
    temp_prefix,
    write_stamp,
)
from .catalog import ModelSpec, install_hint
from .chunks import ChunkLocator, locate_chunks
from .errors import ModelInstallError

log = logging.getLogger(__name__)

_BLOCK = 8 * 1024 * 1024  # large enough that buffered writes go straight to the OS
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def ensure_model_file(spec: ModelSpec, cache_dir: Path | None = None, locate_chunk: ChunkLocator | None = None) -> Path:
    """Return the path of the model's verified GGUF file, joining its chunks into the cache first if needed.

    `locate_chunk` maps a chunk package name to its chunk file; the default finds it in the installed package.
    Raises ModelInstallError, with the fix in its message, on any failure.
    """
    directory = cache_dir or default_cache_dir()
    final = model_path(spec, directory)
    if stamp_matches(final, spec):  # the common case: no lock, no hashing
        return final
    if not final.exists():
        locate_chunks(spec, locate_chunk)  # missing packages fail here, before anything is created in the cache
    _make_cache_dir(directory)
    with join_lock(directory, spec):
        # Another process may have finished the join while we waited for the lock.
        if stamp_matches(final, spec):
            return final
        _remove_stale_temp_files(directory, spec)
        if final.exists():
            if _hash_matches(final, spec):
                log.info("re-verified %s", final)
                write_stamp(final, spec)
                return final
            log.warning("%s does not match the catalog sha256; joining it again", final)
            remove_stamp(final)
            _unlink(final, spec)
        chunks = locate_chunks(spec, locate_chunk)
        _check_free_space(spec, directory)  # before reading anything: the most actionable failure
        _check_chunk_sizes(spec, chunks)
        log.info("joining %d chunks of %s into %s", len(chunks), spec.id, final)
        _join(spec, chunks, final)
        write_stamp(final, spec)
    return final


def human_size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _make_cache_dir(directory: Path) -> Path:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelInstallError(
            f"Cannot create the model cache directory {directory} ({exc.strerror or exc}). "
            "Make it writable or choose a different cache directory."
        ) from exc
    return directory


def _remove_stale_temp_files(directory: Path, spec: ModelSpec) -> None:
    # We hold the lock, so any temp file left here belongs to a join that died (killed, power loss).
    for leftover in directory.glob(f"{temp_prefix(spec)}*{TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _hash_matches(path: Path, spec: ModelSpec) -> bool:
    try:
        if path.stat().st_size != spec.size:
            return False
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest() == spec.sha256
    except OSError:
        return False


def _unlink(path: Path, spec: ModelSpec) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise ModelInstallError(
            f"{path} is not a valid copy of model {spec.id!r} and cannot be removed ({exc.strerror or exc}). "
            "Delete it by hand."
        ) from exc


def _check_chunk_sizes(spec: ModelSpec, chunks: list[Path]) -> None:
    # Cheap early check: wrong package versions usually show up as a wrong total size before any copying.
    try:
        total = sum(p.stat().st_size for p in chunks)
    except OSError as exc:
        raise ModelInstallError(
            f"Cannot read the chunks of model {spec.id!r} ({exc}). To fix it, {install_hint(spec, reinstall=True)}."
        ) from exc
    if total != spec.size:
        raise ModelInstallError(
            f"The chunk packages of model {spec.id!r} hold {total} bytes, but the model is {spec.size} bytes: "
            f"they are not the pinned versions or are damaged. To fix it, {install_hint(spec, reinstall=True)}."
        )


def _no_space_message(spec: ModelSpec, directory: Path, detail: str) -> str:
    return (
        f"Not enough disk space to install model {spec.id!r}: it needs {human_size(spec.size)} "
        f"({spec.size} bytes) free in {directory}; {detail}. "
        "Free up that much space there, or choose a different cache directory."
    )


def _check_free_space(spec: ModelSpec, directory: Path) -> None:
    free = shutil.disk_usage(directory).free
    if free < spec.size:
        raise ModelInstallError(_no_space_message(spec, directory, f"only {human_size(free)} is free"))


def _join(spec: ModelSpec, chunks: list[Path], final: Path) -> None:
    directory = final.parent
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=temp_prefix(spec), suffix=TEMP_SUFFIX)
    tmp = Path(tmp_name)
    written = 0
    try:
        digest = hashlib.sha256()
        buf = bytearray(_BLOCK)
        view = memoryview(buf)
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                for n in _read_blocks(spec, chunk, buf):
                    if written + n > spec.size:
                        raise ModelInstallError(
                            f"The chunks of model {spec.id!r} are larger than the expected {spec.size} bytes. "
                            f"To fix it, {install_hint(spec, reinstall=True)}."
                        )
                    digest.update(view[:n])
                    out.write(view[:n])
                    written += n
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if written != spec.size or actual != spec.sha256:
            raise ModelInstallError(
                f"Model {spec.id!r} failed verification: the joined chunks ({written} bytes) have sha256 {actual}, "
                f"but the catalog expects {spec.sha256} ({spec.size} bytes), so the chunk packages are not the pinned "
                f"versions or are damaged. Nothing was installed. To fix it, {install_hint(spec, reinstall=True)}."
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the model is not secret
        os.replace(tmp, final)
        _fsync_dir(directory)
    except OSError as exc:  # read failures are already ModelInstallError, so this is the write side
        with contextlib.suppress(OSError):
            written = tmp.stat().st_size  # what actually reached the disk, partial writes included
        if exc.errno in _NO_SPACE:
            detail = f"the disk filled up after {human_size(written)} ({exc.strerror})"
            raise ModelInstallError(_no_space_message(spec, directory, detail)) from exc
        raise ModelInstallError(
            f"Writing model {spec.id!r} into {directory} failed after {written} of {spec.size} bytes: "
            f"{exc.strerror or exc} ({errno.errorcode.get(exc.errno or 0, 'errno ' + str(exc.errno))}). "
            f"The joined file needs {human_size(spec.size)} of free space and write access there: "
            "fix that, or choose a different cache directory."
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()  # already renamed on success; on failure this is the half-written file


def _read_blocks(spec: ModelSpec, chunk: Path, buf: bytearray):
    try:
        with open(chunk, "rb") as src:
            while n := src.readinto(buf):
                yield n
    except OSError as exc:
        raise ModelInstallError(
            f"Cannot read chunk {chunk} of model {spec.id!r} ({exc.strerror or exc}). "
            f"To fix it, {install_hint(spec, reinstall=True)}."
        ) from exc


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not supported everywhere, and the data is already safe without it.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
