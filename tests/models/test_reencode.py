"""The exact Q8_0 re-encoding of Q5_0 tensors: real GGUF files written and read back with the gguf library."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFWriter, quants

from codespark.models.reencode import derived_path, q5_0_to_q8_0, q8_prefill_copy

RNG = np.random.default_rng(7)


def random_q5_0(rows: int, cols: int) -> np.ndarray:
    """Q5_0 blocks with every bit pattern possible (values -16..15), under finite f16 scales."""
    blocks = RNG.integers(0, 256, size=(rows * cols // 32, 22), dtype=np.uint8)
    blocks[:, :2] = RNG.uniform(-0.05, 0.05, size=len(blocks)).astype(np.float16).view(np.uint8).reshape(-1, 2)
    return blocks.reshape(rows, cols // 32 * 22)


def write_model(path: Path, *, with_q5_0: bool = True, seed_row: int = 0, other_floats: int = 0) -> Path:
    w = GGUFWriter(path, arch="qwen2")
    w.add_block_count(1)
    w.add_name("tiny")
    w.add_array("tokenizer.ggml.tokens", ["<a>", "b", "ünï"])
    w.add_array("tokenizer.ggml.scores", [0.5, -1.0, 2.0])
    w.add_float32("qwen2.rope.freq_base", 1000000.0)
    w.add_bool("tokenizer.ggml.add_bos_token", False)
    w.add_custom_alignment(64)
    if with_q5_0:
        w.add_tensor("token_embd.weight", random_q5_0(5, 96), raw_dtype=Q.Q5_0)
    w.add_tensor("blk.0.attn_norm.weight", np.arange(7, dtype=np.float32) + seed_row)  # 28 bytes: padding follows
    w.add_tensor("blk.0.attn_v.weight", quants.quantize(RNG.normal(size=(3, 64)).astype(np.float32), Q.Q8_0),
                 raw_dtype=Q.Q8_0)
    if other_floats:
        w.add_tensor("output.weight", np.zeros(other_floats, dtype=np.float32))
    if with_q5_0:
        w.add_tensor("blk.0.ffn_up.weight", random_q5_0(3, 32), raw_dtype=Q.Q5_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_q5_0_tensors_become_q8_0_holding_the_same_weights(tmp_path):
    source = write_model(tmp_path / "tiny.gguf")
    copy = q8_prefill_copy(source, tmp_path / "cache")
    assert copy == derived_path(source, tmp_path / "cache") and copy.exists()
    before, after = GGUFReader(source), GGUFReader(copy)
    assert after.alignment == 64
    assert {k: f.contents() for k, f in before.fields.items()} == {k: f.contents() for k, f in after.fields.items()}
    assert [t.name for t in after.tensors] == [t.name for t in before.tensors]
    for old, new in zip(before.tensors, after.tensors):
        assert list(new.shape) == list(old.shape)
        assert new.data_offset % 64 == 0
        if old.tensor_type == Q.Q5_0:
            assert new.tensor_type == Q.Q8_0
            weights = quants.dequantize(np.asarray(old.data), Q.Q5_0)
            assert np.array_equal(quants.dequantize(np.asarray(new.data), Q.Q8_0), weights)
            assert np.isfinite(weights).all()
        else:
            assert new.tensor_type == old.tensor_type
            assert np.asarray(new.data).tobytes() == np.asarray(old.data).tobytes()
    assert not list((tmp_path / "cache" / "derived").glob(".*"))  # no temporary file left behind


def test_a_partial_copy_left_by_a_dead_process_is_swept_up(tmp_path):
    source = write_model(tmp_path / "tiny.gguf")
    target = derived_path(source, tmp_path / "cache")
    target.parent.mkdir(parents=True)
    abandoned, fresh = (target.parent / f".{target.name}.{tag}.partial" for tag in ("dead", "busy"))
    for partial in (abandoned, fresh):
        partial.write_bytes(b"GGUF half-written")
    old = abandoned.stat().st_mtime - 2 * 3600
    os.utime(abandoned, (old, old))
    assert q8_prefill_copy(source, tmp_path / "cache") == target and target.exists()
    assert not abandoned.exists() and fresh.exists()  # a recent one may be another process's, still writing


def test_q5_0_values_cover_their_whole_range():
    blocks = random_q5_0(64, 32 * 8).reshape(-1, 22)
    values = q5_0_to_q8_0(blocks)[:, 2:].view(np.int8)
    assert values.min() == -16 and values.max() == 15 and len(np.unique(values)) == 32
    assert np.array_equal(q5_0_to_q8_0(blocks)[:, :2], blocks[:, :2])  # the scales, untouched


@pytest.mark.parametrize("q5_0", ["none", "a small share"])
def test_a_model_with_little_or_no_q5_0_gets_no_copy(tmp_path, q5_0):
    if q5_0 == "none":
        source = write_model(tmp_path / "plain.gguf", with_q5_0=False)
    else:  # 396 bytes of Q5_0 among 4.7 kB of weights: a whole second file would buy little
        source = write_model(tmp_path / "mostly-f32.gguf", other_floats=1024)
    assert q8_prefill_copy(source, tmp_path / "cache") is None
    assert not (tmp_path / "cache" / "derived").exists() or not any((tmp_path / "cache" / "derived").iterdir())


def test_the_copy_is_made_once_and_made_again_when_the_model_changes(tmp_path):
    source = write_model(tmp_path / "tiny.gguf")
    cache = tmp_path / "cache"
    first = q8_prefill_copy(source, cache)
    made = first.stat()
    assert q8_prefill_copy(source, cache) == first
    assert first.stat().st_ino == made.st_ino and first.stat().st_mtime_ns == made.st_mtime_ns  # reused as is

    write_model(source, seed_row=100)  # the model file replaced by another one
    os.utime(source, ns=(made.st_mtime_ns + 10**9, made.st_mtime_ns + 10**9))
    second = q8_prefill_copy(source, cache)
    assert second != first and second.exists() and not first.exists()  # the stale copy removed
    norm = [t for t in GGUFReader(second).tensors if t.name == "blk.0.attn_norm.weight"][0]
    assert np.asarray(norm.data)[0] == 100

    (tmp_path / "elsewhere").mkdir()
    other = write_model(tmp_path / "elsewhere" / "tiny.gguf")
    assert q8_prefill_copy(other, cache) != second and second.exists()  # same name, another file: both kept


def test_an_unreadable_model_raises_and_leaves_nothing(tmp_path):
    source = tmp_path / "broken.gguf"
    source.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 40)
    with pytest.raises((ValueError, OSError)):
        q8_prefill_copy(source, tmp_path / "cache")
    assert not (tmp_path / "cache" / "derived").exists() or not any((tmp_path / "cache" / "derived").iterdir())


def test_concurrent_first_starts_share_one_copy(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    source = write_model(tmp_path / "tiny.gguf")
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: q8_prefill_copy(source, tmp_path / "cache"), range(4)))
    assert len(set(paths)) == 1 and paths[0].exists()
    assert [p.name for p in (tmp_path / "cache" / "derived").iterdir()] == [paths[0].name]  # no partials, no others
    assert [t.tensor_type for t in GGUFReader(paths[0]).tensors].count(Q.Q8_0) == 3
