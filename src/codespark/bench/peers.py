"""Servers to compare codespark with, run on the same GGUF file and thread count, and one streaming client.

Peers:
- `llama-server` from llama.cpp, built from the source vendored in the llama-cpp-python sdist (the same
  llama.cpp revision codespark runs on), with `--spec-type none`, `ngram-simple` and `ngram-mod`.
- `python -m llama_cpp.server` (llama-cpp-python's own server), plain and with its prompt-lookup draft.
- codespark itself (`codespark serve`), with drafting (the default) and with `"speculative": false`.

A peer that cannot be started is skipped with the reason recorded; nothing here is fatal to a benchmark.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx

from ..cli.launcher import stop

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_BUILD_DIR = REPO_ROOT / "vendor-build"


class PeerUnavailable(RuntimeError):
    """A peer cannot run here; the message says why (recorded in the benchmark's JSON)."""


@dataclass(frozen=True)
class PeerSpec:
    key: str  # stable id used in JSON
    label: str  # what tables and charts show
    kind: str  # "codespark" | "llama-server" | "llama-cpp-python"
    server: str  # which process serves it (configs of one server share it)
    request_extra: dict[str, Any] = field(default_factory=dict)


CODESPARK = PeerSpec("codespark", "codespark (drafting)", "codespark", "codespark")
# its own process: sharing codespark's would hand it a warm prompt cache (and a cold TTFT is measured)
CODESPARK_PLAIN = PeerSpec("codespark-plain", "codespark plain decoding", "codespark", "codespark-plain", {"speculative": False})
LLAMA_SERVER = {
    mode: PeerSpec(f"llama-server-{mode}", f"llama-server {mode}", "llama-server", f"llama-server-{mode}")
    for mode in ("none", "ngram-simple", "ngram-mod")
}
# llama-server picks flash attention on by default; off is faster on CPU (docs/benchmarks/profile.md), as
# codespark's default, so its strongest mode runs both ways
LLAMA_SERVER_MOD_NO_FA = PeerSpec("llama-server-ngram-mod-no-fa", "llama-server ngram-mod, no flash attn", "llama-server",
                                  "llama-server-ngram-mod:no-fa")
LCP_SERVER = PeerSpec("llama-cpp-python", "llama_cpp.server", "llama-cpp-python", "llama-cpp-python")
LCP_SERVER_PLD = PeerSpec("llama-cpp-python-pld", "llama_cpp.server prompt-lookup", "llama-cpp-python", "llama-cpp-python-pld")
ALL_PEERS = [CODESPARK, CODESPARK_PLAIN, *LLAMA_SERVER.values(), LLAMA_SERVER_MOD_NO_FA, LCP_SERVER, LCP_SERVER_PLD]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- llama-server: find or build ------------------------------------------------------------------


def vendored_llama_cpp_source(build_dir: Path = DEFAULT_BUILD_DIR, *, fetch: bool = True) -> Path | None:
    """llama.cpp as vendored in the llama-cpp-python sdist the installed package was built from.

    Looked for in uv's sdist cache, then in build_dir; otherwise (fetch) the sdist pinned in uv.lock is
    downloaded into build_dir and checked against the lock's hash (./scripts/setup builds with pip, whose
    cache keeps no unpacked source).
    """
    try:
        version = metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return None
    roots = [os.environ.get("UV_CACHE_DIR"), os.path.expanduser("~/.cache/uv")]
    for root in filter(None, roots):
        for found in sorted(glob.glob(f"{root}/sdists-v*/pypi/llama-cpp-python/{version}/*/src/vendor/llama.cpp")):
            if (Path(found) / "CMakeLists.txt").is_file():
                return Path(found)
    unpacked = build_dir / f"llama_cpp_python-{version}" / "vendor" / "llama.cpp"
    if (unpacked / "CMakeLists.txt").is_file():
        return unpacked
    return _fetch_sdist(version, build_dir) if fetch else None


def locked_llama_sdist() -> dict[str, str]:
    """The llama-cpp-python sdist pinned in uv.lock: version, url and hash ("sha256:..."); ./scripts/setup reads it too."""
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    pkg = next(p for p in lock["package"] if p["name"] == "llama-cpp-python")
    return {"version": pkg["version"], "url": pkg["sdist"]["url"], "hash": pkg["sdist"]["hash"]}


def _fetch_sdist(version: str, build_dir: Path) -> Path | None:
    try:
        sdist = locked_llama_sdist()
    except (OSError, StopIteration, KeyError, tomllib.TOMLDecodeError):
        return None
    if sdist["version"] != version:
        return None
    algo, want = sdist["hash"].split(":", 1)
    digest = hashlib.new(algo)
    build_dir.mkdir(parents=True, exist_ok=True)
    archive = build_dir / sdist["url"].rsplit("/", 1)[-1]
    try:
        with httpx.stream("GET", sdist["url"], follow_redirects=True, timeout=60) as r, open(archive, "wb") as f:
            r.raise_for_status()
            for chunk in r.iter_bytes():
                digest.update(chunk)
                f.write(chunk)
    except (httpx.HTTPError, OSError):
        return None
    try:
        if digest.hexdigest() != want:
            return None
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):  # Python 3.11.4+: refuse links and paths out of build_dir
                tar.extractall(build_dir, filter="data")
            else:
                tar.extractall(build_dir)
    finally:
        archive.unlink(missing_ok=True)
    return vendored_llama_cpp_source(build_dir, fetch=False)


def llama_cflags() -> str:
    """C/C++ flags for every -march=native llama.cpp build here: llama-cpp-python's (./scripts/setup) and llama-server's.

    On x86 ggml's AMX kernels are compiled out: on Sapphire Rapids+ CPUs their matmul crashes on Q4_K_M
    models (llama.cpp #20824). CODESPARK_LLAMA_CFLAGS overrides them.
    """
    cflags = os.environ.get("CODESPARK_LLAMA_CFLAGS")
    if cflags is None:
        cflags = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" if platform.machine().lower() in ("x86_64", "amd64") else ""
    return cflags


def native_build_flags() -> list[str]:
    cflags = llama_cflags()
    flags = ["-DGGML_NATIVE=ON"]
    return flags + [f"-DCMAKE_C_FLAGS={cflags}", f"-DCMAKE_CXX_FLAGS={cflags}"] if cflags else flags


def ensure_llama_server(explicit: Path | None, build_dir: Path = DEFAULT_BUILD_DIR, *, build: bool = True,
                        log: Callable[[str], None] = print) -> Path:
    """The llama-server binary: the given one, one built earlier into build_dir, or a fresh build."""
    if explicit is not None:
        if not Path(explicit).is_file():
            raise PeerUnavailable(f"--llama-server {explicit} does not exist")
        return Path(explicit)
    binary = build_dir / "llama.cpp" / "bin" / "llama-server"
    if binary.is_file():
        return binary
    if not build:
        raise PeerUnavailable(f"no llama-server at {binary} (pass --llama-server PATH, or run without --quick to build it)")
    source = vendored_llama_cpp_source(build_dir)
    if source is None:
        raise PeerUnavailable("llama.cpp source not found, and the sdist in uv.lock could not be fetched (pass --llama-server PATH)")
    if shutil.which("cmake") is None:
        raise PeerUnavailable("cmake is not installed (pass --llama-server PATH)")
    out = build_dir / "llama.cpp"
    out.mkdir(parents=True, exist_ok=True)
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    configure = ["cmake", "-S", str(source), "-B", str(out), *generator, "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF",
                 "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", *native_build_flags()]
    compile_ = ["cmake", "--build", str(out), "--target", "llama-server", "-j", str(min(2, os.cpu_count() or 1))]
    log(f"building llama-server from {source} into {out} (several minutes)...")
    with open(build_dir / "llama-server-build.log", "w") as f:
        for cmd in (configure, compile_):
            rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
            if rc != 0:
                raise PeerUnavailable(f"building llama-server failed ({' '.join(cmd[:3])}...); see {build_dir / 'llama-server-build.log'}")
    if not binary.is_file():
        raise PeerUnavailable(f"the build finished but {binary} is missing")
    return binary


# -- llama_cpp.server: its optional dependencies, kept outside the project's venv ------------------------

LCP_SERVER_DEPS = ["pydantic-settings", "sse-starlette", "starlette-context>=0.3.6,<0.4", "pyyaml", "python-dotenv"]


def ensure_llama_cpp_server_deps(build_dir: Path = DEFAULT_BUILD_DIR, *, install: bool = True) -> Path | None:
    """A PYTHONPATH entry that makes `python -m llama_cpp.server` importable (None: already importable).

    The `server` extra of llama-cpp-python is not a codespark dependency; its few packages are installed
    with `uv pip install --target` into build_dir, so the project's environment stays exactly as locked.
    """
    probe = [sys.executable, "-c", "import sse_starlette, starlette_context, pydantic_settings, yaml"]
    if subprocess.run(probe, capture_output=True).returncode == 0:
        return None
    target = build_dir / "llama-cpp-server-deps"
    env = {**os.environ, "PYTHONPATH": str(target)}
    if subprocess.run(probe, capture_output=True, env=env).returncode == 0:
        return target
    if not install:
        raise PeerUnavailable("llama_cpp.server's dependencies (llama-cpp-python[server]) are not installed")
    uv = shutil.which("uv")
    if uv is None:
        raise PeerUnavailable("llama_cpp.server's dependencies are missing and uv is not available to install them")
    cmd = [uv, "pip", "install", "--python", sys.executable, "--target", str(target), "--no-deps", *LCP_SERVER_DEPS]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or subprocess.run(probe, capture_output=True, env=env).returncode != 0:
        raise PeerUnavailable(f"could not install llama_cpp.server's dependencies: {done.stderr.strip()[-300:]}")
    return target


# -- processes ------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    base_url: str
    proc: subprocess.Popen
    log_path: Path
    command: list[str]


@contextmanager
def run_server(name: str, cmd: list[str], port: int, health_path: str, log_dir: Path, *, env: dict[str, str] | None = None,
               timeout: float = 300) -> Iterator[Server]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log = open(log_path, "w+")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                tail = log.read()[-1500:]
                raise PeerUnavailable(f"{name} exited with code {proc.returncode} while starting: {tail}")
            try:
                if httpx.get(base + health_path, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise PeerUnavailable(f"{name} did not become healthy within {timeout:.0f} s")
            time.sleep(0.3)
        yield Server(name, base, proc, log_path, cmd)
    finally:
        stop(proc, grace=15)
        log.close()


def server_command(spec_server: str, *, model_path: Path, threads: int, ctx: int, port: int, store: Path,
                   llama_server: Path | None = None, model_id: str | None = None) -> tuple[list[str], str, dict[str, str]]:
    """(command, health path, extra env) for one peer process."""
    if spec_server in ("codespark", "codespark-plain"):
        cmd = [sys.executable, "-m", "codespark.cli.main", "serve", "--model", model_id or str(model_path), "--port", str(port),
               "--threads", str(threads), "--ctx-size", str(ctx), "--slots", "2", "--store", str(store)]
        return cmd, "/healthz", {}
    if spec_server.startswith("llama-server-"):
        mode, _, variant = spec_server.removeprefix("llama-server-").partition(":")
        assert llama_server is not None
        cmd = [str(llama_server), "-m", str(model_path), "--host", "127.0.0.1", "--port", str(port), "-t", str(threads),
               "-tb", str(threads), "-c", str(ctx), "--parallel", "1", "--spec-type", mode, "--no-webui"]
        if variant == "no-fa":
            cmd += ["--flash-attn", "off"]
        return cmd, "/health", {}
    if spec_server.startswith("llama-cpp-python"):
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1", "--port", str(port),
               "--n_threads", str(threads), "--n_threads_batch", str(threads), "--n_ctx", str(ctx), "--n_batch", "512"]
        if spec_server.endswith("-pld"):
            cmd += ["--draft_model", "prompt-lookup-decoding", "--draft_model_num_pred_tokens", "10"]
        return cmd, "/v1/models", {}
    raise ValueError(spec_server)


# -- one streamed request --------------------------------------------------------------------------


@dataclass
class StreamResult:
    text: str
    ttft_s: float | None
    e2e_s: float
    usage: dict[str, Any] | None = None
    engine: dict[str, Any] | None = None  # codespark's own timings
    error: str | None = None


def _sse_lines(response: httpx.Response) -> Iterator[str]:
    for line in response.iter_lines():
        if line.startswith("data:"):
            yield line[5:].strip()


def stream_codespark(base_url: str, messages: list[dict], *, max_tokens: int, extra: dict[str, Any] | None = None,
                     timeout: float = 1800, on_delta: Callable[[str], None] | None = None) -> StreamResult:
    instructions = "\n".join(m["content"] for m in messages if m["role"] == "system") or None
    body = {"input": [{"type": "message", "role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"],
            "instructions": instructions, "stream": True, "temperature": 0, "max_output_tokens": max_tokens, "store": False,
            **(extra or {})}
    t0 = time.perf_counter()
    ttft, parts, usage, engine, error = None, [], None, None, None
    with httpx.stream("POST", base_url + "/v1/responses", json=body, timeout=timeout) as r:
        if r.status_code != 200:
            r.read()
            return StreamResult("", None, time.perf_counter() - t0, error=f"HTTP {r.status_code}: {r.text[:300]}")
        for data in _sse_lines(r):
            ev = json.loads(data)
            kind = ev.get("type")
            if kind == "response.output_text.delta":
                if ttft is None:
                    ttft = time.perf_counter() - t0
                parts.append(ev["delta"])
                if on_delta:
                    on_delta(ev["delta"])
            elif kind in ("response.completed", "response.incomplete", "response.failed"):
                resp = ev.get("response", {})
                usage, engine = resp.get("usage"), resp.get("codespark")
                if kind == "response.failed":
                    error = str(resp.get("error"))
                break
    return StreamResult("".join(parts), ttft, time.perf_counter() - t0, usage, engine, error)


def stream_chat(base_url: str, messages: list[dict], *, max_tokens: int, timeout: float = 1800,
                on_delta: Callable[[str], None] | None = None) -> StreamResult:
    body = {"model": "m", "messages": messages, "stream": True, "temperature": 0, "max_tokens": max_tokens,
            "stream_options": {"include_usage": True}}
    t0 = time.perf_counter()
    ttft, parts, usage = None, [], None
    with httpx.stream("POST", base_url + "/v1/chat/completions", json=body, timeout=timeout) as r:
        if r.status_code != 200:
            r.read()
            return StreamResult("", None, time.perf_counter() - t0, error=f"HTTP {r.status_code}: {r.text[:300]}")
        for data in _sse_lines(r):
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or []:
                delta = (choice.get("delta") or {}).get("content")
                if delta:
                    if ttft is None:
                        ttft = time.perf_counter() - t0
                    parts.append(delta)
                    if on_delta:
                        on_delta(delta)
    return StreamResult("".join(parts), ttft, time.perf_counter() - t0, usage)
