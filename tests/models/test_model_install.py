import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from codespark.models import ModelInstallError, default_cache_dir, ensure_model_file
from codespark.models.cache import stamp_path

from .conftest import make_spec

SRC = Path(__file__).resolve().parents[2] / "src"


def leftovers(cache: Path, final: Path) -> list[str]:
    """Files in the cache other than the lock file: after a failure there must be none."""
    return sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock") and p != final)


def install_messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("codespark.models")]


def test_default_cache_dir_is_the_user_cache():
    path = default_cache_dir()
    assert path.name == "models"
    assert path.parent.name == "codespark"


def test_join_produces_the_verified_file_and_never_imports_chunk_packages(fake_model, tmp_path):
    cache = tmp_path / "cache"  # does not exist yet: created on demand
    path = ensure_model_file(fake_model.spec, cache_dir=cache)

    assert path == cache / fake_model.spec.upstream_file
    assert path.read_bytes() == fake_model.content
    stamp = json.loads(stamp_path(path).read_text())
    assert stamp == {"sha256": fake_model.spec.sha256, "size": len(fake_model.content), "mtime_ns": path.stat().st_mtime_ns}
    assert not [m for m in sys.modules if m.startswith("fake_chunks_")]  # their __init__ raises if imported
    assert leftovers(cache, path) == [stamp_path(path).name]


def test_verified_file_is_reused_without_joining_or_hashing(fake_model, tmp_path, caplog):
    cache = tmp_path / "cache"
    first = ensure_model_file(fake_model.spec, cache_dir=cache)
    mtime = first.stat().st_mtime_ns
    # Without the chunks, only a reuse can succeed.
    for chunk in fake_model.chunk_files:
        chunk.unlink()

    caplog.set_level(logging.DEBUG, logger="codespark.models")
    assert ensure_model_file(fake_model.spec, cache_dir=cache) == first
    assert first.stat().st_mtime_ns == mtime
    assert install_messages(caplog) == []  # neither "joining" nor "re-verified"


def test_stamp_mismatch_triggers_full_reverification(fake_model, tmp_path, caplog):
    cache = tmp_path / "cache"
    path = ensure_model_file(fake_model.spec, cache_dir=cache)
    for chunk in fake_model.chunk_files:
        chunk.unlink()  # so a re-join would fail: the file must be re-hashed and kept
    new_mtime = path.stat().st_mtime_ns + 5_000_000_000
    os.utime(path, ns=(new_mtime, new_mtime))

    caplog.set_level(logging.INFO, logger="codespark.models")
    assert ensure_model_file(fake_model.spec, cache_dir=cache) == path
    assert any("re-verified" in m for m in install_messages(caplog))
    assert json.loads(stamp_path(path).read_text())["mtime_ns"] == new_mtime


def test_garbled_stamp_triggers_reverification(fake_model, tmp_path, caplog):
    cache = tmp_path / "cache"
    path = ensure_model_file(fake_model.spec, cache_dir=cache)
    stamp_path(path).write_text("{not json")
    caplog.set_level(logging.INFO, logger="codespark.models")
    assert ensure_model_file(fake_model.spec, cache_dir=cache) == path
    assert any("re-verified" in m for m in install_messages(caplog))


def test_corrupted_cached_file_is_rejoined(fake_model, tmp_path, caplog):
    cache = tmp_path / "cache"
    path = ensure_model_file(fake_model.spec, cache_dir=cache)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF  # same size, different bytes, new mtime
    path.write_bytes(bytes(data))

    caplog.set_level(logging.INFO, logger="codespark.models")
    assert ensure_model_file(fake_model.spec, cache_dir=cache) == path
    assert path.read_bytes() == fake_model.content
    assert any("joining" in m for m in install_messages(caplog))


def test_wrong_sha256_fails_clearly_and_leaves_nothing_behind(fake_model, tmp_path):
    cache = tmp_path / "cache"
    spec = replace(fake_model.spec, sha256="0" * 64)
    with pytest.raises(ModelInstallError) as err:
        ensure_model_file(spec, cache_dir=cache)

    message = str(err.value)
    assert spec.id in message and "failed verification" in message
    assert hashlib.sha256(fake_model.content).hexdigest() in message  # what we got, next to what we expected
    assert "--reinstall" in message  # the fix
    assert not (cache / spec.upstream_file).exists()
    assert leftovers(cache, cache / spec.upstream_file) == []


def test_wrong_total_size_fails_before_copying(fake_model, tmp_path):
    cache = tmp_path / "cache"
    spec = replace(fake_model.spec, size=len(fake_model.content) + 1)
    with pytest.raises(ModelInstallError, match="not the pinned versions") as err:
        ensure_model_file(spec, cache_dir=cache)
    assert "--reinstall" in str(err.value)
    assert leftovers(cache, cache / spec.upstream_file) == []
    assert not (cache / spec.upstream_file).exists()


def test_missing_optional_chunk_package_names_package_and_extra(make_chunk_packages, tmp_path):
    present = make_chunk_packages([b"GGUF one", b" two"])
    missing = "fake-never-installed-part3"
    spec = make_spec(present + (missing,), b"GGUF one two three", extra="deep", tier="deep")

    with pytest.raises(ModelInstallError) as err:
        ensure_model_file(spec, cache_dir=tmp_path / "cache")
    message = str(err.value)
    assert spec.id in message
    assert missing in message
    assert present[0] not in message  # only the missing one is blamed
    assert "uv sync --extra deep" in message and "pip install 'codespark[deep]'" in message
    assert not (tmp_path / "cache").exists()  # nothing created in the cache for a model that cannot be installed


def test_missing_default_chunk_package_says_to_reinstall(tmp_path, site_dir):
    spec = make_spec(("fake-absent-part1", "fake-absent-part2"), b"GGUF whatever")
    with pytest.raises(ModelInstallError) as err:
        ensure_model_file(spec, cache_dir=tmp_path / "cache")
    message = str(err.value)
    assert "fake-absent-part1" in message and "fake-absent-part2" in message
    assert "uv sync --reinstall" in message and "pip install --force-reinstall codespark" in message


def test_chunk_package_without_its_data_file_is_reported(make_chunk_packages, site_dir, tmp_path):
    packages = make_chunk_packages([b"GGUF a", b"b"])
    (site_dir / packages[1].replace("-", "_") / "data" / "part02.bin").unlink()
    spec = make_spec(packages, b"GGUF ab")
    with pytest.raises(ModelInstallError, match=r"exactly one data/partNN\.bin, found 0") as err:
        ensure_model_file(spec, cache_dir=tmp_path / "cache")
    assert packages[1] in str(err.value) and "--reinstall" in str(err.value)


def test_custom_chunk_locator(tmp_path):
    parts = {"alpha": b"GGUF-", "beta": b"joined"}
    for name, data in parts.items():
        (tmp_path / name).write_bytes(data)
    spec = make_spec(("alpha", "beta"), b"GGUF-joined")
    path = ensure_model_file(spec, cache_dir=tmp_path / "cache", locate_chunk=lambda name: tmp_path / name)
    assert path.read_bytes() == b"GGUF-joined"


def test_stale_temp_file_from_a_killed_join_is_cleaned_up(fake_model, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    stale = cache / f".{fake_model.spec.upstream_file}.abc123.partial"
    stale.write_bytes(b"half a model")
    path = ensure_model_file(fake_model.spec, cache_dir=cache)
    assert not stale.exists()
    assert path.read_bytes() == fake_model.content


def test_not_enough_free_space_is_detected_before_writing(fake_model, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    # A spec claiming far more bytes than this disk has free; the real free-space check must refuse it.
    huge = os.statvfs(cache).f_bavail * os.statvfs(cache).f_frsize + 10**12
    spec = replace(fake_model.spec, size=huge)
    with pytest.raises(ModelInstallError) as err:
        ensure_model_file(spec, cache_dir=cache)
    message = str(err.value)
    assert "Not enough disk space" in message
    assert str(huge) in message and str(cache) in message
    assert leftovers(cache, cache / spec.upstream_file) == []


def test_uncreatable_cache_dir_is_reported(fake_model, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ModelInstallError, match="Cannot create the model cache directory"):
        ensure_model_file(fake_model.spec, cache_dir=blocker / "models")


_CHILD = r"""
import json, logging, resource, signal, sys
from pathlib import Path

site, cache, spec_json, fsize_limit = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
sys.path[:0] = [site]
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
from codespark.models import ModelInstallError, ModelSpec, ensure_model_file

if fsize_limit:
    # Writes past this size fail with EFBIG (instead of killing us with SIGXFSZ).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
fields = json.loads(spec_json)
fields["chunk_packages"] = tuple(fields["chunk_packages"])
try:
    print(ensure_model_file(ModelSpec(**fields), cache))
except ModelInstallError as exc:
    print(exc)
    sys.exit(3)
"""


def run_child(fake, cache: Path, fsize_limit: int = 0, spec=None) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(SRC), PYTHONDONTWRITEBYTECODE="1")
    spec_json = json.dumps(asdict(spec or fake.spec))
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(fake.site), str(cache), spec_json, str(fsize_limit)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_write_failure_midway_is_reported_and_cleaned_up(make_chunk_packages, site_dir, tmp_path):
    # A real failing write: RLIMIT_FSIZE makes the join's write() fail with EFBIG ("File too large") after 1 MiB,
    # which is how a full disk looks to this code (a failing write partway through), though with another errno.
    parts = [b"GGUF" + os.urandom(1024 * 1024), os.urandom(2 * 1024 * 1024)]
    content = b"".join(parts)
    spec = make_spec(make_chunk_packages(parts), content)
    fake = type("Fake", (), {"spec": spec, "site": site_dir})
    cache = tmp_path / "cache"

    child = run_child(fake, cache, fsize_limit=1024 * 1024)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 3, (out, err)
    assert "failed after 1048576 of" in out and "File too large (EFBIG)" in out
    assert str(cache) in out and "free space and write access" in out
    assert not (cache / spec.upstream_file).exists()
    assert leftovers(cache, cache / spec.upstream_file) == []

    # Without the limit, the same cache recovers.
    assert ensure_model_file(spec, cache_dir=cache).read_bytes() == content


def _blocked_flock_waiters(inode: int) -> int:
    # /proc/locks lists waiters as "N: -> FLOCK ADVISORY WRITE pid MAJ:MIN:INODE 0 EOF".
    lines = Path("/proc/locks").read_text().splitlines()
    return sum(1 for line in lines if "->" in line and line.split()[6].endswith(f":{inode}"))


def test_two_processes_starting_at_once_join_only_once(fake_model, tmp_path):
    import fcntl

    cache = tmp_path / "cache"
    cache.mkdir()
    lock_path = cache / f".{fake_model.spec.upstream_file}.lock"
    with open(lock_path, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # hold the join lock so both children pile up behind it
        children = [run_child(fake_model, cache) for _ in range(2)]
        deadline = time.monotonic() + 30
        while _blocked_flock_waiters(os.stat(lock_path).st_ino) < 2:
            assert time.monotonic() < deadline, "children never reached the join lock"
            assert all(c.poll() is None for c in children), [c.communicate() for c in children]
            time.sleep(0.05)
    results = [c.communicate(timeout=60) for c in children]

    assert [c.returncode for c in children] == [0, 0], results
    final = cache / fake_model.spec.upstream_file
    assert [out.strip() for out, _ in results] == [str(final), str(final)]
    joins = sum(err.count("joining") for _, err in results)
    assert joins == 1, results
    assert final.read_bytes() == fake_model.content
