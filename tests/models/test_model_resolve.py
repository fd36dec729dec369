import hashlib
import logging

import pytest

from codespark.models import CATALOG, ModelInstallError, resolve_model
from codespark.models.cache import stamp_path


def test_catalog_id_resolves_to_the_joined_file(fake_model, tmp_path, monkeypatch):
    monkeypatch.setitem(CATALOG, fake_model.spec.id, fake_model.spec)
    resolved = resolve_model(fake_model.spec.id, cache_dir=tmp_path)
    assert resolved.id == fake_model.spec.id
    assert resolved.spec is fake_model.spec
    assert resolved.path.read_bytes() == fake_model.content


def test_local_gguf_path_is_used_as_is(tmp_path):
    model = tmp_path / "my-finetune.Q8_0.gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00rest of the header")
    resolved = resolve_model(str(model), cache_dir=tmp_path / "cache")
    assert resolved.id == "my-finetune.Q8_0"
    assert resolved.path == model.resolve()
    assert resolved.spec is None
    assert not (tmp_path / "cache").exists()  # nothing installed for a local file


def test_non_gguf_file_is_rejected(tmp_path):
    fake = tmp_path / "weights.gguf"
    fake.write_bytes(b"PK\x03\x04 this is a zip")
    with pytest.raises(ModelInstallError, match="is not a GGUF model file"):
        resolve_model(str(fake))


def test_empty_file_is_rejected(tmp_path):
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(ModelInstallError, match="is not a GGUF model file"):
        resolve_model(str(empty))


@pytest.mark.parametrize("name", ["qwen-nonexistent", "./no/such/file.gguf"])
def test_unknown_name_lists_the_catalog(name):
    with pytest.raises(ModelInstallError) as err:
        resolve_model(name)
    message = str(err.value)
    assert name in message
    assert "qwen2.5-coder-0.5b" in message and "qwen2.5-coder-1.5b" in message


def test_directory_is_rejected(tmp_path):
    with pytest.raises(ModelInstallError, match="is a directory"):
        resolve_model(str(tmp_path))


def test_real_default_model_joins_to_the_published_file(real_default_model, caplog):
    cache, resolved = real_default_model
    spec = CATALOG["qwen2.5-coder-0.5b"]
    assert resolved.id == "qwen2.5-coder-0.5b" and resolved.spec is spec
    assert resolved.path == cache / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    assert resolved.path.stat().st_size == 491400064
    with open(resolved.path, "rb") as f:
        assert f.read(4) == b"GGUF"
        f.seek(0)
        assert hashlib.file_digest(f, "sha256").hexdigest() == spec.sha256
    assert stamp_path(resolved.path).exists()

    # The second start reuses the file through its stamp: no join, no 500 MB hash (either would log).
    caplog.set_level(logging.DEBUG, logger="codespark.models")
    assert resolve_model("qwen2.5-coder-0.5b", cache_dir=cache).path == resolved.path
    assert [r for r in caplog.records if r.name.startswith("codespark.models")] == []
