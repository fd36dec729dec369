"""A thin, faithful layer over llama.cpp's low-level API.

Why not `llama_cpp.Llama`: it keeps one KV sequence, allocates an (n_batch x n_vocab) score matrix, and
hides the batch, so it cannot verify speculative drafts with logits only where needed, keep several
conversations warm at once, or stop a prefill between chunks. Everything here runs on the engine's
single worker thread (a llama.cpp context is not thread-safe), except tokenize/detokenize, which only
read the vocabulary.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import llama_cpp
import numpy as np
from llama_cpp import _internals as internals

from ..models.cache import default_cache_dir
from ..models.reencode import q8_prefill_copy

log = logging.getLogger("codespark.engine")


class DecodeError(RuntimeError):
    """llama_decode failed for a reason other than a full KV cache."""


class KVCacheFull(RuntimeError):
    """No free KV cells for the batch: the caller should evict an idle sequence and retry."""


class KVCacheTooLarge(ValueError):
    """The KV cache asked for does not fit in the memory available (checked before allocating it)."""

    def __init__(self, needed: int, available: int, cells: int):
        super().__init__(f"the KV cache needs {needed / 1e9:.1f} GB ({cells} cells) but only "
                         f"{available / 1e9:.1f} GB of memory is available")
        self.needed, self.available, self.cells = needed, available, cells


def available_memory() -> int | None:
    """Bytes the kernel says a new allocation can take without swapping (Linux); None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class Aborted(RuntimeError):
    """llama_decode stopped early because `request_abort()` was called; the batch left no trace in the KV cache."""


@dataclass(frozen=True)
class RuntimeConfig:
    n_ctx: int = 32768
    n_batch: int = 512
    n_threads: int = 0  # 0: all cores
    n_seq_max: int = 4  # conversations kept warm at once (each is one llama.cpp sequence)
    native_context: int = 32768
    # Each conversation gets its own KV stream of n_ctx cells (llama.cpp's non-unified cache), rather than all
    # of them sharing one pool of n_ctx cells. It costs n_seq_max times the KV memory, and a prefix shared
    # across conversations is then copied rather than referenced; in exchange a pass attends over its own
    # conversation's cells only, which is what lets plain (non-flash) attention run: see flash_attn.
    kv_per_conversation: bool = True
    # None: off where each conversation has its own cells, on in a shared pool. On this CPU plain attention is
    # faster (one-row decoding 1.4x, 8-32-row draft verification up to 2x at a 3.5k context;
    # docs/benchmarks/profile.md), but in a shared pool it also multiplies over every other warm
    # conversation's (masked) cells, which the flash kernel skips: with one 2.7k-token neighbour a rewrite's
    # TTFT was 1.26x that with flash attention on.
    flash_attn: bool | None = None
    # Repacked weights (llama.cpp's CPU "extra buffer types", on in llama-server by default): 8-16-row draft
    # verifications faster, one-row decoding and whole rewrites about the same on this CPU; on by default so
    # that codespark and llama-server run the same kernels (docs/benchmarks/profile.md §7). CPU kernels are not
    # batch-invariant with or without them (speculative.py).
    repack_weights: bool = True
    # Long uncached prompts prefill in a second, flash-attention context whose KV then moves into the
    # plain-attention one (the verification passes stay plain). With llama.cpp's AVX-512 flash-attention
    # kernels a 2.2k-token prompt prefills 1.14-1.2x faster, the ~20 ms move included; with AVX2 ones flash
    # attention prefilled no faster (docs/benchmarks/profile.md §2, §9). None: on where llama.cpp reports
    # AVX-512 and attention is otherwise plain. Costs one more n_ctx of KV memory.
    prefill_flash_attn: bool | None = None
    # The prefill context runs on an exact Q8_0 re-encoding of the model's Q5_0 tensors (the same weights, which
    # the matmul kernels need not unpack): 12-14% faster prefill here (codespark.models.reencode). Costs a
    # second copy of the weights in memory and, once per model file, a few seconds and its size on disk.
    prefill_reencode: bool = True


def _silence_llama_logs() -> None:
    # llama.cpp logs every load to stderr; keep the server's output readable unless asked otherwise.
    if os.environ.get("CODESPARK_LLAMA_VERBOSE"):
        return

    @llama_cpp.llama_log_callback
    def _quiet(level, text, user_data):  # noqa: ARG001
        return None

    llama_cpp.llama_log_set(_quiet, ctypes.c_void_p(0))
    _silence_llama_logs._callback = _quiet  # keep a reference alive


def _native_abort_callback():
    """An abort callback that runs no Python: libc's strlen over a one-byte flag.

    llama.cpp calls the callback after every graph node (hundreds per decode) from its compute thread. A
    ctypes Python callback would take the GIL that often, competing with the server's event loop; instead the
    callback is `strlen(flag)`, which is 0 (go on) or 1 (abort) -- exactly the `bool (*)(void *)` contract on
    the x86-64 and AArch64 C ABIs, where a 0/1 size_t in the return register reads as false/true.
    Returns None where libc cannot be found (the caller then uses a Python callback).
    """
    try:
        libc = ctypes.cdll.msvcrt if sys.platform == "win32" else ctypes.CDLL(ctypes.util.find_library("c") or None)
        address = ctypes.cast(libc.strlen, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None
    return llama_cpp.ggml_abort_callback(address) if address else None


def _built_with(feature: str) -> bool:
    """Whether llama.cpp's CPU backend was compiled with `feature` (as named in llama_print_system_info)."""
    return f"{feature} = 1" in llama_cpp.llama_print_system_info().decode(errors="replace")


def amx_compiled_in() -> bool:
    """Whether this llama.cpp build carries ggml's AMX kernels (an -march=native build on a Sapphire Rapids+ CPU).

    Their matmul crashes on Q4_K_M models (llama.cpp #20824, unfixed), and they are reached only through the
    "extra" buffer types, so a build that has them loads models without those types: plain, unrepacked weights.
    `./scripts/setup` compiles AMX out, which keeps the AVX2/AVX-512 repacking; this guards other builds.
    """
    return _built_with("AMX_INT8")


class LlamaRuntime:
    """One loaded model with one llama.cpp context holding several KV sequences (one stream each, or one pool)."""

    def __init__(self, model_path: Path, config: RuntimeConfig = RuntimeConfig()):
        _silence_llama_logs()
        llama_cpp.llama_backend_init()
        self.config = config
        self.model_path = Path(model_path)
        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = 0
        model_params.use_extra_bufts = config.repack_weights and not amx_compiled_in()
        self.model = internals.LlamaModel(path_model=str(model_path), params=model_params, verbose=False)
        self.vocab = self.model.vocab
        self.n_vocab = self.model.n_vocab()
        self.metadata = self.model.metadata()

        threads = config.n_threads or max(1, os.cpu_count() or 1)
        params = llama_cpp.llama_context_default_params()
        # one sequence alone needs no streams of its own: the shared layout is the same thing, minus bookkeeping
        self.kv_shared = not config.kv_per_conversation or config.n_seq_max == 1
        shared_by_several = self.kv_shared and config.n_seq_max > 1
        self.flash_attn = shared_by_several if config.flash_attn is None else config.flash_attn
        params.n_ctx = config.n_ctx if self.kv_shared else config.n_ctx * config.n_seq_max
        params.n_batch = config.n_batch
        params.n_ubatch = config.n_batch
        params.n_seq_max = config.n_seq_max
        params.kv_unified = self.kv_shared
        params.n_threads = threads
        params.n_threads_batch = threads
        params.no_perf = True
        params.flash_attn_type = (
            llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO if self.flash_attn else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        # llama.cpp clears the whole cache at load: one that does not fit would be killed by the OOM killer
        # mid-start rather than refused, so check first (per-conversation streams multiply it by n_seq_max)
        self.flash_prefill = self._wants_flash_prefill(config)
        needed = self._kv_bytes(params.n_ctx + (config.n_ctx if self.flash_prefill else 0))
        available = available_memory()
        if available is not None and needed > available:
            self.model.close()
            raise KVCacheTooLarge(needed, available, params.n_ctx)
        if config.n_ctx > config.native_context:
            # Qwen2.5 reaches 128k with YaRN over its 32k training context.
            params.rope_scaling_type = llama_cpp.LLAMA_ROPE_SCALING_TYPE_YARN
            params.rope_freq_scale = config.native_context / config.n_ctx
            params.yarn_orig_ctx = config.native_context
        self.context = internals.LlamaContext(model=self.model, params=params, verbose=False)
        self.ctx = self.context.ctx
        self._prefill_context: internals.LlamaContext | None = None
        self._prefill_model: internals.LlamaModel | None = None  # the re-encoded weights, when there are any
        self._state_buf = np.empty(0, dtype=np.uint8)  # the KV state on its way out of the prefill context
        if self.flash_prefill:  # one sequence, flash attention (its V cache is not transposed: see take_prefilled)
            params.n_ctx, params.n_seq_max, params.kv_unified = config.n_ctx, 1, True
            params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
            if config.prefill_reencode:
                self._prefill_model = self._load_reencoded(model_params)
            self._prefill_context = internals.LlamaContext(model=self._prefill_model or self.model, params=params,
                                                           verbose=False)
        self.prefill_owner: object | None = None  # the generation whose prompt the prefill context holds
        self.flash_prefills = 0  # prompts prefilled there and moved over
        self._last_ctx = self.ctx  # whose logits logits() reads
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.n_ctx = llama_cpp.llama_n_ctx_seq(self.ctx)  # what one conversation can fill
        self.kv_cells = llama_cpp.llama_n_ctx(self.ctx)  # all conversations together
        self._batch = llama_cpp.llama_batch_init(config.n_batch, 0, 1)
        b = self._batch
        self._b_token = np.ctypeslib.as_array(b.token, shape=(config.n_batch,))
        self._b_pos = np.ctypeslib.as_array(b.pos, shape=(config.n_batch,))
        self._b_logits = np.ctypeslib.as_array(b.logits, shape=(config.n_batch,))
        for i in range(config.n_batch):
            b.n_seq_id[i] = 1
        self._b_seq = [-1] * config.n_batch  # what b.seq_id[i][0] holds, to skip rewriting it
        self._n_outputs = 0
        self._eog = {t for t in (self.model.token_eos(), self.model.token_eot()) if t >= 0}
        self.threads = threads
        # Stopping a decode mid-way (cancel, preemption): a flag byte read by the abort callback.
        self._abort_flag = ctypes.create_string_buffer(2)
        self._abort_cb = _native_abort_callback()
        if self._abort_cb is None:
            flag = self._abort_flag

            @llama_cpp.ggml_abort_callback
            def _python_abort(_data):
                return flag.raw[0] != 0

            self._abort_cb = _python_abort
        for ctx in (self.ctx, self._prefill_context.ctx if self._prefill_context else None):
            if ctx is not None:
                llama_cpp.llama_set_abort_callback(ctx, self._abort_cb, ctypes.cast(self._abort_flag, ctypes.c_void_p))
        self.kv_bytes = self._kv_bytes(self.kv_cells + (config.n_ctx if self.flash_prefill else 0))

    def _load_reencoded(self, model_params) -> internals.LlamaModel | None:
        """The model with its Q5_0 tensors as Q8_0, or None (no Q5_0 tensors, or no copy could be made)."""
        path = None
        try:
            path = q8_prefill_copy(self.model_path, default_cache_dir())
            if path is None:
                return None
            model = internals.LlamaModel(path_model=str(path), params=model_params, verbose=False)
        except (OSError, ValueError) as exc:  # a full disk, a read-only cache, a damaged copy
            log.warning("prefilling with the model's own weights: no Q8_0 copy (%s)", exc)
            if path is not None:
                path.unlink(missing_ok=True)  # made again next time
            return None
        if model.n_vocab() != self.n_vocab or model.n_params() != self.model.n_params():
            model.close()
            return None
        return model

    @property
    def prefill_reencoded(self) -> bool:
        return self._prefill_model is not None  # (dropped with the prefill context)

    def _wants_flash_prefill(self, config: RuntimeConfig) -> bool:
        if self.flash_attn:
            return False  # the main context prefills with flash attention already
        if config.prefill_flash_attn is not None:
            return config.prefill_flash_attn
        return _built_with("AVX512")

    def _kv_bytes(self, cells: int) -> int:
        """Size of an (f16) KV cache of `cells` cells: for all of them, the memory bound of all warm sequences."""
        md = self.metadata
        arch = md.get("general.architecture", "")
        try:
            n_layer = int(md[f"{arch}.block_count"])
            n_head = int(md[f"{arch}.attention.head_count"])
            n_head_kv = int(md.get(f"{arch}.attention.head_count_kv", n_head))
            n_embd = int(md[f"{arch}.embedding_length"])
            k_dim = int(md.get(f"{arch}.attention.key_length", n_embd // n_head))
            v_dim = int(md.get(f"{arch}.attention.value_length", n_embd // n_head))
        except (KeyError, ValueError, ZeroDivisionError):
            return 0
        return cells * n_layer * n_head_kv * (k_dim + v_dim) * 2

    # -- vocabulary (read-only, safe from any thread) --------------------------------------------

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        return self.model.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def token_bytes(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(256)  # per call: the vocabulary is used from several threads
        n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, 256, 0, True)
        return buf.raw[:n]

    def is_end_of_generation(self, token: int) -> bool:
        return token in self._eog or bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    # -- KV cache -----------------------------------------------------------------------------

    def drop(self, seq: int, start: int = 0) -> None:
        """Forget positions >= start of a sequence."""
        llama_cpp.llama_memory_seq_rm(self.memory, seq, start, -1)

    def copy_pays(self, upto: int) -> bool:
        """Is copying `upto` cached positions from another sequence cheaper than evaluating them again?

        Metadata in a shared pool, always. A whole-stream copy costs about 48 ms at 32k cells (measured on 2
        cores, in proportion to n_ctx), and prefill about 9 ms a token: it pays from about n_ctx / 2048 tokens.
        """
        return self.kv_shared or upto >= max(4, self.n_ctx // 2048)

    def copy_sequence(self, src: int, dst: int, upto: int) -> None:
        """Make dst hold src's first `upto` positions.

        In a shared pool this only tags src's cells with dst as well. Across per-conversation streams the data
        must move, and llama.cpp copies only whole streams (at the start of the next decode, whichever
        sequence it is for, so src cannot change before the copy), so copy all of src and trim the rest.
        """
        llama_cpp.llama_memory_seq_rm(self.memory, dst, 0, -1)
        if self.kv_shared:
            llama_cpp.llama_memory_seq_cp(self.memory, src, dst, 0, upto)
        else:
            llama_cpp.llama_memory_seq_cp(self.memory, src, dst, -1, -1)
            llama_cpp.llama_memory_seq_rm(self.memory, dst, upto, -1)

    # -- compute ------------------------------------------------------------------------------

    def decode(self, seq: int, tokens: Sequence[int], start: int, logits: Sequence[int] | None = None,
               *, all_logits: bool = False, prefill_context: bool = False) -> None:
        """Evaluate `tokens` at positions start.. of `seq`.

        `logits` lists the batch indices whose logits are needed (default: the last one only); asking for
        fewer rows is what makes prefill and draft verification cheap. `all_logits` asks for every row (a
        draft verification). `prefill_context` evaluates them in the flash-attention prefill context instead,
        whose one sequence is 0. Raises KVCacheFull, or Aborted after `request_abort()`.
        """
        n = len(tokens)
        if n == 0 or n > self.config.n_batch:
            raise ValueError(f"batch of {n} tokens (max {self.config.n_batch})")
        b = self._batch
        self._b_token[:n] = tokens
        self._b_pos[:n] = np.arange(start, start + n, dtype=np.int32)
        if all_logits:
            self._b_logits[:n] = 1
            self._n_outputs = n
        else:
            self._b_logits[:n] = 0
            want = list(logits) if logits is not None else [n - 1]
            self._b_logits[want] = 1
            self._n_outputs = len(set(want))
        seq_ids, seen = b.seq_id, self._b_seq
        for i in range(n):
            if seen[i] != seq:
                seq_ids[i][0] = seq
                seen[i] = seq
        b.n_tokens = n
        ctx = self._prefill_context.ctx if prefill_context and self._prefill_context else self.ctx
        self._last_ctx = ctx
        rc = llama_cpp.llama_decode(ctx, b)
        if rc == 0:
            return
        self._n_outputs = 0
        if rc == 1:
            raise KVCacheFull()
        if rc == 2:
            raise Aborted()
        raise DecodeError(f"llama_decode returned {rc}")

    def logits(self, index: int) -> np.ndarray:
        """Logits of batch row `index` from the last decode (a view: copy it before the next decode)."""
        ptr = llama_cpp.llama_get_logits_ith(self._last_ctx, index)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def output_logits(self) -> np.ndarray:
        """All rows computed by the last decode, in batch order, as one (n_outputs, n_vocab) view."""
        ptr = llama_cpp.llama_get_logits(self._last_ctx)
        return np.ctypeslib.as_array(ptr, shape=(self._n_outputs, self.n_vocab))

    # -- the flash-attention prefill context ---------------------------------------------------

    def claim_prefill_context(self, owner: object) -> bool:
        """Reserve the prefill context for one prompt; False while another prompt holds it."""
        if self._prefill_context is None or self.prefill_owner not in (None, owner):
            return False
        if self.prefill_owner is None:
            llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(self._prefill_context.ctx), 0, 0, -1)
        self.prefill_owner = owner
        return True

    def release_prefill_context(self, owner: object) -> None:
        if self.prefill_owner is owner:
            self.prefill_owner = None

    def take_prefilled(self, seq: int) -> bool:
        """Move what the prefill context holds into `seq` of the main context (replacing its cells), and empty it.

        False when the state could not be moved (an unexpected layout): `seq` is then empty, and the prefill
        context is not used again.

        llama.cpp's sequence state carries the V cache as stored: rows of cells under flash attention,
        transposed under plain attention, and it refuses to load one layout into the other. So the state is
        rewritten on the way: V transposed, and the one stream spread over the main context's streams.
        """
        source = self._prefill_context.ctx
        self.drop(seq)
        try:
            n_streams = 1 if self.kv_shared else self.config.n_seq_max
            size = llama_cpp.llama_state_seq_get_size(source, 0)
            room = size + 4 * (n_streams - 1)
            # kept between moves (fresh pages cost more than the copy itself), up to a few thousand tokens' worth
            buf = self._state_buf if self._state_buf.size >= room else np.empty(room, dtype=np.uint8)
            if room <= _KEPT_STATE_BYTES:
                self._state_buf = buf
            if llama_cpp.llama_state_seq_get_data(source, _bytes_ptr(buf), size, 0) != size:
                raise DecodeError("could not read the prefilled KV cache")
            size = transpose_state_v(buf, size, n_streams)
            if llama_cpp.llama_state_seq_set_data(self.ctx, _bytes_ptr(buf), size, seq) != size:
                raise DecodeError("could not load the prefilled KV cache")
            self.flash_prefills += 1
            return True
        except DecodeError:
            self.drop(seq)
            self._close_prefill_context()
            return False
        finally:
            if self._prefill_context is not None:
                llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(source), 0, 0, -1)
            self.prefill_owner = None

    def _close_prefill_context(self) -> None:
        for part in (self._prefill_context, self._prefill_model):
            if part is not None:
                part.close()
        self._prefill_context, self._prefill_model, self.flash_prefill = None, None, False

    # -- interrupting a decode (any thread) --------------------------------------------------

    def request_abort(self) -> None:
        """Make the decode in progress (or the next one) stop after its current graph node."""
        self._abort_flag[0] = b"\x01"

    def clear_abort(self) -> None:
        self._abort_flag[0] = b"\x00"

    def close(self) -> None:
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        self._close_prefill_context()
        self.context.close()
        self.model.close()


_STATE_MAGIC = 0xAF143CD8  # llama.cpp's sequence-state header
_KEPT_STATE_BYTES = 64 << 20  # about 5k tokens of the 0.5B model's KV


def _bytes_ptr(array: np.ndarray):
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))


def transpose_state_v(buf: np.ndarray, size: int, n_streams: int) -> int:
    """Rewrite, in place, a one-stream llama.cpp sequence state with V stored by cell into the same with V
    transposed, spread over n_streams; returns its new size (buf needs 4 spare bytes per extra stream).

    The layout (llama-kv-cache.cpp, state_write): magic, seq id, stream count; per stream a cell count, per
    cell (pos, n_seq, seq ids), then v_trans, n_layer, per layer K (type, row size, rows) and per layer V
    (type, row size, rows), or when transposed (type, element size, width, columns). The cells land in the
    target sequence's own stream whichever stream they are listed under, so the others are left empty.
    """
    state = buf[:size]
    off = 0

    def take(fmt: str) -> tuple:
        nonlocal off
        try:
            values = struct.unpack_from(fmt, state, off)
        except struct.error:
            raise DecodeError("unexpected KV state layout") from None
        off += struct.calcsize(fmt)
        return values

    magic, _seq_id, streams = take("<IiI")
    if magic != _STATE_MAGIC or streams != 1:
        raise DecodeError("unexpected KV state layout")
    (cells,) = take("<I")
    for _ in range(cells):
        _pos, n_seq = take("<iI")
        off += 4 * n_seq
    v_flag_at = off
    v_trans, n_layer = take("<II")
    if v_trans != 0:
        raise DecodeError("unexpected KV state layout")
    for _ in range(n_layer):
        _type, row = take("<iQ")
        off += row * cells
    blocks = []
    for _ in range(n_layer):
        v_type, row = take("<iQ")
        el = 2 if v_type == 1 else 4 if v_type == 0 else 0  # f16, f32: the only V types codespark uses
        if el == 0 or row % el or off + row * cells > size:
            raise DecodeError("unexpected KV state layout")
        blocks.append((off, v_type, el, row // el))
        off += row * cells
    if off != size:
        raise DecodeError("unexpected KV state layout")
    struct.pack_into("<I", state, 8, n_streams)
    struct.pack_into("<I", state, v_flag_at, 1)
    for start, v_type, el, width in blocks:
        struct.pack_into("<iII", state, start - 12, v_type, el, width)
        block = state[start : start + el * width * cells].view(np.uint16 if el == 2 else np.uint32)
        block.reshape(width, cells)[...] = block.reshape(cells, width).copy().T
    buf[size : size + 4 * (n_streams - 1)] = 0  # each extra stream: a 0 cell count
    return size + 4 * (n_streams - 1)
