"""Run one process with a timeout that kills its whole process group and a
bounded output buffer (head + tail) that is filled incrementally."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["OutputCapture", "ProcessOutcome", "run_process"]

_READ_CHUNK = 64 * 1024
# After the main process exits, a background child may still hold the pipe open
# (`server &`); don't wait for its EOF longer than this.
_POST_EXIT_DRAIN_S = 0.5


class OutputCapture:
    """Keeps the first ``cap // 2`` and last ``cap - cap // 2`` bytes of a stream.

    Memory stays O(cap) no matter how much is fed, so `yes` cannot exhaust RAM.
    """

    def __init__(self, cap: int) -> None:
        if cap < 0:
            raise ValueError("output cap must be >= 0")
        self.cap = cap
        self._head_limit = cap // 2
        self._tail_limit = cap - self._head_limit
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data and self._tail_limit > 0:
            self._tail += data[-self._tail_limit :]
            excess = len(self._tail) - self._tail_limit
            if excess > 0:
                del self._tail[:excess]

    @property
    def omitted(self) -> int:
        return self.total - len(self._head) - len(self._tail)

    @property
    def truncated(self) -> bool:
        return self.omitted > 0

    def text(self) -> str:
        if not self.truncated:
            # Decode as one piece so a multibyte char split between head and tail survives.
            return (bytes(self._head) + bytes(self._tail)).decode("utf-8", "replace")
        head = self._head.decode("utf-8", "replace")
        tail = self._tail.decode("utf-8", "replace")
        return f"{head}\n\n... {self.omitted} bytes omitted ...\n\n{tail}"


@dataclass(frozen=True)
class ProcessOutcome:
    exit_code: int
    output: str
    timed_out: bool
    truncated: bool
    duration_s: float
    cancelled: bool = False  # stopped early because `cancel` was set (the user interrupted)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # group already gone


def _read_available(fd: int, capture: OutputCapture, wait: float) -> bool:
    """Read whatever is ready within ``wait`` seconds; return False at EOF."""
    ready, _, _ = select.select([fd], [], [], max(wait, 0.0))
    if not ready:
        return True
    try:
        chunk = os.read(fd, _READ_CHUNK)
    except OSError:
        return False
    if not chunk:
        return False
    capture.feed(chunk)
    return True


def run_process(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str],
    timeout: float,
    output_cap: int,
    kill_grace: float = 2.0,
    env: Mapping[str, str] | None = None,
    cancel: threading.Event | None = None,
) -> ProcessOutcome:
    """Run ``argv`` with stdin=/dev/null and stdout+stderr merged into one capped stream.

    On timeout the whole process group gets SIGTERM, then SIGKILL after
    ``kill_grace`` seconds; setting ``cancel`` (another thread) ends it the same
    way at once. ``exit_code`` uses the shell convention 128+N for a process
    killed by signal N.
    """
    capture = OutputCapture(output_cap)
    start = time.monotonic()
    deadline = start + timeout
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=os.fspath(cwd),
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,  # a command waiting for input would just hang
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Own session => own process group, so killpg() reaches every child and
            # our terminal's Ctrl-C does not hit the command (we manage its lifetime).
            start_new_session=True,
        )
    except OSError as exc:  # e.g. argv[0] not found: report it like a shell would
        return ProcessOutcome(
            exit_code=127,
            output=f"failed to start {argv[0]!r}: {exc}",
            timed_out=False,
            truncated=False,
            duration_s=time.monotonic() - start,
        )
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    pgid = proc.pid
    timed_out = False
    cancelled = False
    open_pipe = True
    exited_at: float | None = None
    try:
        while True:
            now = time.monotonic()
            if proc.poll() is not None:
                if not open_pipe:
                    break
                if exited_at is None:
                    exited_at = now
                elif now - exited_at >= _POST_EXIT_DRAIN_S:
                    break
            if now >= deadline:
                timed_out = True
                break
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            wait = min(0.1, deadline - now)
            if open_pipe:
                open_pipe = _read_available(fd, capture, wait)
            else:
                try:
                    proc.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    pass

        if timed_out or cancelled:
            _signal_group(pgid, signal.SIGTERM)
            grace_end = time.monotonic() + kill_grace
            # Keep draining during the grace period so a writer blocked on a full
            # pipe can notice SIGTERM and exit cleanly.
            while proc.poll() is None and time.monotonic() < grace_end:
                if open_pipe:
                    open_pipe = _read_available(fd, capture, min(0.05, grace_end - time.monotonic()))
                else:
                    time.sleep(0.02)
            # Always SIGKILL the group: children may ignore SIGTERM even if the leader died.
            _signal_group(pgid, signal.SIGKILL)
        proc.wait()
        # Drain what is already buffered without waiting for stragglers.
        drain_end = time.monotonic() + 0.2
        while open_pipe and time.monotonic() < drain_end:
            ready, _, _ = select.select([fd], [], [], 0)
            if not ready:
                break
            open_pipe = _read_available(fd, capture, 0)
    finally:
        if proc.poll() is None:  # only on an unexpected exception above
            _signal_group(pgid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
    rc = proc.returncode
    exit_code = 128 - rc if rc < 0 else rc
    return ProcessOutcome(
        exit_code=exit_code,
        output=capture.text(),
        timed_out=timed_out,
        truncated=capture.truncated,
        duration_s=time.monotonic() - start,
        cancelled=cancelled,
    )
