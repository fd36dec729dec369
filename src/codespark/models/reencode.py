"""An exact Q8_0 re-encoding of a GGUF model's Q5_0 tensors, which the engine prefills with.

Q5_0 stores each block of 32 weights as an f16 scale d and 5-bit values q in [0, 31] that mean d * (q - 16);
Q8_0 stores an f16 scale and 32 int8 values. So d and q - 16 carry over unchanged and the weights are the same
numbers, bit for bit: only the kernels that multiply them differ. A Q4_K_M model whose rows are not a
multiple of 256 (Qwen2.5-0.5B: 896) is mostly Q5_0, and on x86 its prefill matmuls run in llamafile's
tinyBLAS, which unpacks a Q5_0 block's nibbles and fifth bits every time a tile loads it but reads Q8_0's
int8 values as they are. With the copy a long prompt prefills 12-14% faster here; one-row decoding is 5%
slower (more bytes per weight), so decoding keeps the original (docs/benchmarks/profile.md §10).

The copy is made once per model file, under the model cache, and written atomically.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import struct
import tempfile
import time
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader

from .cache import TEMP_SUFFIX, file_lock

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the output changes, so that older copies are not reused
SUFFIX = ".q5_0-as-q8_0.gguf"
_Q5_0_BLOCK, _Q8_0_BLOCK = 22, 34  # bytes per 32 weights: f16 d, u32 high bits, 16 nibble bytes / f16 d, 32 int8
_MIN_SHARE = 0.25  # of the weights' bytes in Q5_0: below it a whole second copy of the file is not worth it
_ABANDONED_S = 3600  # a partial copy older than this was left by a process that died mid-write
_CHUNK_BLOCKS = 1 << 20  # bounds the temporaries (~100 MB) for the largest tensor, the token embeddings


def q5_0_to_q8_0(blocks: np.ndarray) -> np.ndarray:
    """Q5_0 blocks (n, 22 uint8) -> the same weights as Q8_0 blocks (n, 34 uint8)."""
    out = np.empty((len(blocks), _Q8_0_BLOCK), dtype=np.uint8)
    out[:, :2] = blocks[:, :2]  # the scale
    high = np.unpackbits(blocks[:, 2:6], axis=1, bitorder="little")  # bit j: the fifth bit of value j
    nibbles = blocks[:, 6:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1) | (high << 4)  # values 0-15 low nibbles, 16-31 high
    out[:, 2:] = (q.astype(np.int16) - 16).astype(np.int8).view(np.uint8)
    return out


def derived_path(source: Path, cache_dir: Path) -> Path:
    """Where the copy of `source` lives: keyed by its path, size and mtime, so a changed file gets a new one."""
    st = source.stat()
    version = _digest(f"{st.st_size}|{st.st_mtime_ns}|{FORMAT}")
    return cache_dir / "derived" / f"{_name_prefix(source)}.{version}{SUFFIX}"


def _name_prefix(source: Path) -> str:
    """What every copy of `source` (any version of it) is named with."""
    return f"{source.stem}.{_digest(str(source.resolve()))}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def q8_prefill_copy(source: Path, cache_dir: Path) -> Path | None:
    """The re-encoded copy of `source`, made now if it is not there yet; None when few or none of its weights
    are Q5_0 (a copy of the whole file would then buy little)."""
    source = Path(source)
    target = derived_path(source, cache_dir)
    if target.exists():
        return target
    try:
        reader = GGUFReader(source)
    except Exception as exc:  # the gguf library raises whatever its parsing hits first
        raise ValueError(f"{source.name}: not a GGUF file the re-encoder can read ({exc})") from None
    q5_bytes = sum(int(t.n_bytes) for t in reader.tensors if t.tensor_type == GGMLQuantizationType.Q5_0)
    if q5_bytes == 0 or q5_bytes < _MIN_SHARE * sum(int(t.n_bytes) for t in reader.tensors):
        return None
    if reader.byte_order != "I":
        return None  # a big-endian file on a little-endian host: leave it alone
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = glob.escape(_name_prefix(source))
    # one process makes it, the others wait; next to the join locks, as the derived folder holds only copies
    with file_lock(cache_dir / f".{_name_prefix(source)}{SUFFIX}.lock"):
        if target.exists():
            return target
        for stale in target.parent.glob(f"{prefix}.*{SUFFIX}"):
            stale.unlink(missing_ok=True)  # a copy of an earlier version of the same file
        for partial in target.parent.glob(f".{prefix}.*{TEMP_SUFFIX}"):
            # left by a writer that died; the age check covers platforms without flock, where one may be live
            with contextlib.suppress(OSError):
                if time.time() - partial.stat().st_mtime > _ABANDONED_S:
                    partial.unlink()
        log.info("re-encoding %s's Q5_0 weights as Q8_0 for prefill (once)", source.name)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=TEMP_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as out:
                _write(reader, source, out)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would keep other users of a shared cache out
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return target


def _write(reader: GGUFReader, source: Path, out) -> None:
    align = int(reader.alignment)  # a numpy integer when the file sets it
    tensors = reader.tensors
    with open(source, "rb") as f:
        kv_end = min(t.field.offset for t in tensors) if tensors else reader.data_offset
        out.write(f.read(kv_end))  # header and metadata, unchanged (the tensor count stays the same)
    layout, offset = [], 0
    for t in tensors:
        q5 = t.tensor_type == GGMLQuantizationType.Q5_0
        ttype = GGMLQuantizationType.Q8_0 if q5 else t.tensor_type
        size = int(t.n_bytes) // _Q5_0_BLOCK * _Q8_0_BLOCK if q5 else int(t.n_bytes)
        layout.append((t, q5, offset))
        name = t.name.encode()
        dims = [int(d) for d in t.shape]  # ne order, as in the file
        out.write(struct.pack(f"<Q{len(name)}sI{len(dims)}QIQ", len(name), name, len(dims), *dims, ttype, offset))
        offset += -(-size // align) * align
    out.write(b"\0" * (-out.tell() % align))
    for t, q5, start in layout:
        raw = np.asarray(t.data).reshape(-1).view(np.uint8)
        if q5:
            blocks = raw.reshape(-1, _Q5_0_BLOCK)
            for i in range(0, len(blocks), _CHUNK_BLOCKS):
                out.write(q5_0_to_q8_0(blocks[i : i + _CHUNK_BLOCKS]).tobytes())
        else:
            out.write(raw.tobytes())
        out.write(b"\0" * (-out.tell() % align))
