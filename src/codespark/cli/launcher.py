"""Find a running codespark server, or start the embedded one for the duration of a command.

    with ensure_server(args.server) as server:      # server.url, server.started (did we start it?)
        ...

--server URL (or CODESPARK_SERVER) is used as given (it must answer /healthz or /v1/models). Otherwise a
server already listening on the default port is reused; failing that, `python -m codespark.cli.main serve`
is started as a subprocess on a free port, waited for (/healthz), and stopped when the block exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

from ..config import DEFAULT_PORT, ServerConfig

START_TIMEOUT_S = float(os.environ.get("CODESPARK_SERVER_START_TIMEOUT_S", 180))


class ServerUnavailable(Exception):
    pass


@dataclass
class ServerHandle:
    url: str
    started: bool
    process: subprocess.Popen | None = None
    log_path: Path | None = None


def healthy(url: str, timeout: float = 1.0) -> bool:
    for path in ("/healthz", "/v1/models"):
        try:
            if httpx.get(url.rstrip("/") + path, timeout=timeout).status_code == 200:
                return True
        except httpx.HTTPError:
            continue
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def ensure_server(url: str | None = None, *, extra_args: list[str] | None = None, quiet: bool = True) -> Iterator[ServerHandle]:
    url = url or os.environ.get("CODESPARK_SERVER") or None
    if url:
        from ..agent.transport import normalize_base_url

        base = normalize_base_url(url)
        if not healthy(base, timeout=5):
            raise ServerUnavailable(f"no Responses server answers at {base} (checked /healthz and /v1/models)")
        yield ServerHandle(base, started=False)
        return
    cfg = ServerConfig()
    default = f"http://127.0.0.1:{cfg.port or DEFAULT_PORT}"
    if healthy(default):
        yield ServerHandle(default, started=False)
        return
    with start_server(extra_args=extra_args, quiet=quiet) as handle:
        yield handle


@contextlib.contextmanager
def start_server(*, port: int | None = None, extra_args: list[str] | None = None, quiet: bool = True,
                 timeout: float = START_TIMEOUT_S) -> Iterator[ServerHandle]:
    cfg = ServerConfig()
    if port is None:
        port = cfg.port if _port_free(cfg.port) else _free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix=f"codespark-server-{port}-", suffix=".log", delete=False)
    cmd = [sys.executable, "-m", "codespark.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port), *(extra_args or [])]
    if not quiet:
        print(f"codespark: starting the embedded server on port {port} ...", file=sys.stderr, flush=True)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    handle = ServerHandle(url, started=True, process=proc, log_path=Path(log.name))
    try:
        deadline = time.monotonic() + timeout
        while not healthy(url, timeout=1):
            if proc.poll() is not None:
                log.seek(0)
                tail = log.read()[-2000:]
                raise ServerUnavailable(f"the embedded server exited with code {proc.returncode}:\n{tail}")
            if time.monotonic() > deadline:
                raise ServerUnavailable(f"the embedded server did not become healthy within {timeout:.0f} s (log: {log.name})")
            time.sleep(0.2)
        yield handle
    finally:
        stop(proc)
        log.close()
        with contextlib.suppress(OSError):
            os.unlink(log.name)  # its tail is in the error message when the start failed


def stop(proc: subprocess.Popen, grace: float = 10) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
