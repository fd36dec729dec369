"""Starting the real CLI: persistence across restarts, API keys, refusing unsafe binds."""

import subprocess
import sys

import httpx
import openai
import pytest

from serving import free_port, running_server

MODEL = "qwen2.5-coder-0.5b"


def test_previous_response_id_survives_a_restart(tmp_path):
    with running_server(tmp_path) as (base, _):
        c = openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0)
        first = c.responses.create(model=MODEL, input="The password is swordfish. Reply: ok.", max_output_tokens=4)
    with running_server(tmp_path) as (base, _):  # same store file
        c = openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0)
        again = c.responses.create(model=MODEL, previous_response_id=first.id, input="What is the password? One word.", max_output_tokens=6)
        assert "swordfish" in again.output_text.lower()
        assert c.responses.retrieve(first.id).output_text == first.output_text


def test_non_loopback_bind_requires_api_key(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "codespark.cli.main", "serve", "--host", "0.0.0.0", "--port", str(free_port()), "--store", str(tmp_path / "s.db")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "--api-key" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_api_keys_are_enforced(tmp_path):
    with running_server(tmp_path, "--host", "0.0.0.0", "--api-key", "sekret") as (base, _):
        assert httpx.get(base + "/healthz").status_code == 200  # health stays open for probes
        denied = httpx.post(base + "/v1/responses", json={"model": MODEL, "input": "hi"})
        assert denied.status_code == 401 and denied.json()["error"]["code"] == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=base + "/v1", api_key="wrong", max_retries=0).responses.create(model=MODEL, input="hi")
        ok = openai.OpenAI(base_url=base + "/v1", api_key="sekret", max_retries=0)
        assert ok.responses.create(model=MODEL, input="hi", max_output_tokens=2).status in ("completed", "incomplete")
        with ok.responses.connect() as conn:
            conn.response.create(model=MODEL, input="hi", max_output_tokens=2)
            for ev in conn:
                if ev.type in ("response.completed", "response.incomplete"):
                    break
        from websockets.sync.client import connect

        with pytest.raises(Exception):
            with connect(base.replace("http", "ws") + "/v1/responses") as ws:  # no key: handshake refused
                ws.recv(timeout=5)


def test_unknown_model_path_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "codespark.cli.main", "serve", "--model", str(tmp_path / "missing.gguf"), "--port", str(free_port()), "--store", str(tmp_path / "s.db")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "qwen2.5-coder-0.5b" in proc.stderr  # the message lists what can be served
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("flags, message", [
    # per-conversation KV streams: 64 x 128k cells is ~100 GB, refused before anything is allocated
    (("--slots", "64", "--ctx-size", "131072"), "--shared-kv"),
    (("--slots", "0"), "--slots must be between 1 and 256"),
])
def test_cache_that_cannot_exist_is_a_clear_error(tmp_path, flags, message):
    proc = subprocess.run(
        [sys.executable, "-m", "codespark.cli.main", "serve", *flags, "--port", str(free_port()), "--store", str(tmp_path / "s.db")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("codespark: ") and message in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_draft_model_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "codespark.cli.main", "serve", "--draft-model", str(tmp_path / "missing.gguf"), "--port", str(free_port()), "--store", str(tmp_path / "s.db")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("codespark: --draft-model:") and "Traceback" not in proc.stderr


@pytest.mark.parametrize("flags, layout, flash", [
    ((), "per-conversation", False),  # the default: each warm conversation its own KV cells, plain attention
    (("--shared-kv",), "shared", True),  # one pool: flash attention skips the other conversations' cells
    (("--shared-kv", "--no-flash-attn"), "shared", False),
])
def test_kv_layout_and_flash_attention_reach_the_runtime(tmp_path, flags, layout, flash):
    with running_server(tmp_path, "--slots", "3", "--ctx-size", "4096", *flags) as (base, _):
        stats = httpx.get(base + "/healthz").json()["models"][MODEL]
        assert (stats["kv_layout"], stats["flash_attn"]) == (layout, flash)
        assert stats["n_ctx"] == 4096 and stats["kv_cells"] == (4096 if layout == "shared" else 3 * 4096)
        c = openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0)
        assert c.responses.create(model=MODEL, input="Say ok.", max_output_tokens=4).output_text
