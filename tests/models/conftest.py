"""Tiny but real chunk packages on sys.path, so the install code runs against real files and real imports."""

from __future__ import annotations

import hashlib
import importlib
import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest

from codespark.models import ModelSpec

_counter = itertools.count()

# If anything imported a chunk package, this would blow up: the install code must only read its data file.
_POISONED_INIT = 'raise RuntimeError("chunk packages must never be imported")\n'


@dataclass
class FakeModel:
    spec: ModelSpec
    content: bytes  # what the joined file must contain
    chunk_files: list[Path]
    site: Path


def make_spec(packages: tuple[str, ...], content: bytes, **overrides) -> ModelSpec:
    n = next(_counter)
    fields = dict(
        id=f"fake-model-{n}",
        title="Fake model",
        tier="realtime",
        chunk_packages=packages,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        upstream_repo="example/fake-model-GGUF",
        upstream_file=f"fake-model-{n}.gguf",
        extra=None,
    )
    fields.update(overrides)
    return ModelSpec(**fields)


@pytest.fixture
def site_dir(tmp_path, monkeypatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))  # also invalidates importlib's directory caches
    return site


@pytest.fixture
def make_chunk_packages(site_dir):
    """Create installed chunk packages `fake-chunks-<n>-partK` holding `parts`; returns their names in join order."""

    def create(parts: list[bytes]) -> tuple[str, ...]:
        prefix = f"fake-chunks-{next(_counter)}-part"
        names = []
        for i, data in enumerate(parts, start=1):
            name = f"{prefix}{i}"
            package_dir = site_dir / name.replace("-", "_")
            (package_dir / "data").mkdir(parents=True)
            (package_dir / "__init__.py").write_text(_POISONED_INIT)
            (package_dir / "data" / f"part{i:02d}.bin").write_bytes(data)
            names.append(name)
        importlib.invalidate_caches()
        return tuple(names)

    return create


@pytest.fixture
def fake_model(make_chunk_packages, site_dir) -> FakeModel:
    # Starts with the GGUF magic so resolve_model accepts it like a real model. Chunk sizes deliberately uneven.
    parts = [b"GGUF" + bytes(range(256)) * 40, b"second chunk " * 1000, b"\x00\xff" * 777]
    packages = make_chunk_packages(parts)
    content = b"".join(parts)
    chunk_files = [site_dir / name.replace("-", "_") / "data" / f"part{i:02d}.bin" for i, name in enumerate(packages, 1)]
    return FakeModel(spec=make_spec(packages, content), content=content, chunk_files=chunk_files, site=site_dir)


@pytest.fixture(scope="session")
def real_default_model(tmp_path_factory):
    """The real default model joined once into a fresh cache dir (about 500 MB; a few seconds)."""
    from codespark.models import resolve_model

    cache = tmp_path_factory.mktemp("real-model-cache")
    return cache, resolve_model("qwen2.5-coder-0.5b", cache_dir=cache)
