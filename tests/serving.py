"""Start a real `codespark serve` subprocess for tests and benchmarks-in-tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from codespark.cli.launcher import stop


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(tmp: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120):
    """Yields (base_url, process). The server is the real CLI entry point on the real model."""
    port = free_port()
    log = open(tmp / f"server-{port}.log", "w+")
    cmd = [sys.executable, "-m", "codespark.cli.main", "serve", "--port", str(port), "--store", str(tmp / "responses.sqlite3"), *args]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read()}")
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become healthy")
            time.sleep(0.2)
        yield base, proc
    finally:
        stop(proc, grace=15)
        log.close()
