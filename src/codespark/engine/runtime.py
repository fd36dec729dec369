"""A thin, faithful layer over llama.cpp's low-level API.

Why not `llama_cpp.Llama`: it keeps one KV sequence, allocates an (n_batch x n_vocab) score matrix, and
hides the batch, so it cannot verify speculative drafts with logits only where needed, keep several
conversations warm at once, or stop a prefill between chunks. Everything here runs on the engine's
single worker thread (a llama.cpp context is not thread-safe), except tokenize/detokenize, which only
read the vocabulary.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import llama_cpp
import numpy as np
from llama_cpp import _internals as internals


class DecodeError(RuntimeError):
    """llama_decode failed for a reason other than a full KV cache."""


class KVCacheFull(RuntimeError):
    """No free KV cells for the batch: the caller should evict an idle sequence and retry."""


@dataclass(frozen=True)
class RuntimeConfig:
    n_ctx: int = 32768
    n_batch: int = 512
    n_threads: int = 0  # 0: all cores
    n_seq_max: int = 4  # conversations kept warm at once (each is one llama.cpp sequence)
    native_context: int = 32768
    flash_attn: bool = True


def _silence_llama_logs() -> None:
    # llama.cpp logs every load to stderr; keep the server's output readable unless asked otherwise.
    if os.environ.get("CODESPARK_LLAMA_VERBOSE"):
        return

    @llama_cpp.llama_log_callback
    def _quiet(level, text, user_data):  # noqa: ARG001
        return None

    llama_cpp.llama_log_set(_quiet, ctypes.c_void_p(0))
    _silence_llama_logs._callback = _quiet  # keep a reference alive


class LlamaRuntime:
    """One loaded model with one llama.cpp context holding several KV sequences."""

    def __init__(self, model_path: Path, config: RuntimeConfig = RuntimeConfig()):
        _silence_llama_logs()
        llama_cpp.llama_backend_init()
        self.config = config
        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = 0
        self.model = internals.LlamaModel(path_model=str(model_path), params=model_params, verbose=False)
        self.vocab = self.model.vocab
        self.n_vocab = self.model.n_vocab()
        self.metadata = self.model.metadata()

        threads = config.n_threads or max(1, os.cpu_count() or 1)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = config.n_ctx
        params.n_batch = config.n_batch
        params.n_ubatch = config.n_batch
        params.n_seq_max = config.n_seq_max
        params.kv_unified = True  # all sequences share one pool of n_ctx cells
        params.n_threads = threads
        params.n_threads_batch = threads
        params.no_perf = True
        params.flash_attn_type = (
            llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO if config.flash_attn else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        if config.n_ctx > config.native_context:
            # Qwen2.5 reaches 128k with YaRN over its 32k training context.
            params.rope_scaling_type = llama_cpp.LLAMA_ROPE_SCALING_TYPE_YARN
            params.rope_freq_scale = config.native_context / config.n_ctx
            params.yarn_orig_ctx = config.native_context
        self.context = internals.LlamaContext(model=self.model, params=params, verbose=False)
        self.ctx = self.context.ctx
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.n_ctx = llama_cpp.llama_n_ctx(self.ctx)
        self._batch = llama_cpp.llama_batch_init(config.n_batch, 0, 1)
        self._piece_buf = ctypes.create_string_buffer(256)
        self._eog = {t for t in (self.model.token_eos(), self.model.token_eot()) if t >= 0}

    # -- vocabulary (read-only, safe from any thread) --------------------------------------------

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        return self.model.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def token_bytes(self, token: int) -> bytes:
        n = llama_cpp.llama_token_to_piece(self.vocab, token, self._piece_buf, 256, 0, True)
        return self._piece_buf.raw[:n]

    def is_end_of_generation(self, token: int) -> bool:
        return token in self._eog or bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    # -- KV cache -----------------------------------------------------------------------------

    def drop(self, seq: int, start: int = 0) -> None:
        """Forget positions >= start of a sequence."""
        llama_cpp.llama_memory_seq_rm(self.memory, seq, start, -1)

    def copy_sequence(self, src: int, dst: int, upto: int) -> None:
        llama_cpp.llama_memory_seq_rm(self.memory, dst, 0, -1)
        llama_cpp.llama_memory_seq_cp(self.memory, src, dst, 0, upto)

    # -- compute ------------------------------------------------------------------------------

    def decode(self, seq: int, tokens: Sequence[int], start: int, logits: Sequence[int] | None = None) -> None:
        """Evaluate `tokens` at positions start.. of `seq`.

        `logits` lists the batch indices whose logits are needed (default: the last one only); asking for
        fewer rows is what makes prefill and draft verification cheap.
        """
        n = len(tokens)
        if n == 0 or n > self.config.n_batch:
            raise ValueError(f"batch of {n} tokens (max {self.config.n_batch})")
        b = self._batch
        want = set(logits) if logits is not None else {n - 1}
        for i, tok in enumerate(tokens):
            b.token[i] = tok
            b.pos[i] = start + i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq
            b.logits[i] = i in want
        b.n_tokens = n
        rc = llama_cpp.llama_decode(self.ctx, b)
        if rc == 1:
            raise KVCacheFull()
        if rc != 0:
            raise DecodeError(f"llama_decode returned {rc}")

    def logits(self, index: int) -> np.ndarray:
        """Logits of batch row `index` from the last decode (a view: copy it before the next decode)."""
        ptr = llama_cpp.llama_get_logits_ith(self.ctx, index)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def close(self) -> None:
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        self.context.close()
        self.model.close()
