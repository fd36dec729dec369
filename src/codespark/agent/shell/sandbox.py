"""Sandbox modes and the bubblewrap (``bwrap``) command line that enforces them.

Modelled on the Codex CLI's sandbox modes:

* ``read-only`` - the whole filesystem is visible but read-only; only a private
  tmpfs ``/tmp`` is writable; no network.
* ``workspace-write`` - as ``read-only`` but the workspace is bound read-write.
* ``danger-full-access`` - no sandbox at all.

The sandbox always fails closed: if ``bwrap`` is missing or cannot create the
namespaces it needs, :class:`SandboxUnavailableError` is raised and nothing runs.
"""

from __future__ import annotations

import enum
import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SandboxMode",
    "SandboxUnavailableError",
    "BwrapSupport",
    "build_bwrap_argv",
    "probe_bwrap",
    "wrap_command",
]


class SandboxMode(str, enum.Enum):
    READ_ONLY = "read-only"
    WORKSPACE_WRITE = "workspace-write"
    DANGER_FULL_ACCESS = "danger-full-access"

    def __str__(self) -> str:  # print the CLI spelling, not "SandboxMode.READ_ONLY"
        return self.value

    @property
    def is_sandboxed(self) -> bool:
        return self is not SandboxMode.DANGER_FULL_ACCESS


class SandboxUnavailableError(RuntimeError):
    """The requested sandbox cannot be enforced here; the command was NOT run."""


_FIX_HINT = (
    "Install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`, Fedora: "
    "`dnf install bubblewrap`) and make sure user namespaces are allowed, or "
    "explicitly choose the 'danger-full-access' sandbox mode to run commands "
    "without a sandbox."
)


@dataclass(frozen=True)
class BwrapSupport:
    """What the probe found works on this machine."""

    path: str
    # A user namespace is preferred (the sandboxed root holds no host privileges),
    # but some hosts/containers forbid it while still allowing the other namespaces.
    unshare_user: bool


def build_bwrap_argv(
    mode: SandboxMode,
    workspace: str | os.PathLike[str],
    argv: Sequence[str],
    *,
    bwrap: str = "bwrap",
    unshare_user: bool = True,
) -> list[str]:
    """Return the full ``bwrap ... -- argv`` command line for ``mode``.

    Order matters: bwrap applies mounts left to right, so the workspace bind comes
    after the tmpfs on /tmp (a workspace under /tmp must win over the tmpfs).
    The command runs with the workspace as its working directory.
    """
    mode = SandboxMode(mode)
    if not mode.is_sandboxed:
        raise ValueError("danger-full-access has no sandbox command line")
    ws = os.path.realpath(os.fspath(workspace))
    out = [
        bwrap,
        # setsid(): the sandboxed program cannot reach our terminal (TIOCSTI injection).
        "--new-session",
        # If we (or bwrap) die, everything inside is SIGKILLed; nothing is left behind.
        "--die-with-parent",
    ]
    if unshare_user:
        out.append("--unshare-user")
    out += [
        # Own PID namespace: when bwrap's init dies the kernel kills every process
        # in it, including daemonised grandchildren, so timeouts are airtight.
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        # Network off: the new net namespace only has a down/loopback-only device.
        "--unshare-net",
        # Without this, a root caller's sandbox keeps CAP_SYS_ADMIN and can simply
        # `mount -o remount,rw /` (verified in our container) - drop everything.
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
    ]
    # Re-bind the workspace even in read-only mode: a workspace under /tmp would
    # otherwise be hidden by the tmpfs above.
    out += ["--bind" if mode is SandboxMode.WORKSPACE_WRITE else "--ro-bind", ws, ws]
    out += ["--chdir", ws, "--"]
    out += list(argv)
    return out


@functools.lru_cache(maxsize=8)
def _probe_cached(bwrap_path: str) -> BwrapSupport:
    # lru_cache does not cache exceptions, so a failed probe is retried next time
    # (e.g. after the user installs bubblewrap).
    errors: list[str] = []
    for unshare_user in (True, False):
        argv = build_bwrap_argv(
            SandboxMode.READ_ONLY, "/", ["true"], bwrap=bwrap_path, unshare_user=unshare_user
        )
        try:
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=15,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            errors.append(f"{' '.join(argv[:3])}...: {exc}")
            continue
        if proc.returncode == 0:
            return BwrapSupport(path=bwrap_path, unshare_user=unshare_user)
        detail = proc.stdout.decode("utf-8", "replace").strip() or f"exit {proc.returncode}"
        errors.append(f"with{'' if unshare_user else 'out'} --unshare-user: {detail}")
    raise SandboxUnavailableError(
        f"bubblewrap at {bwrap_path} cannot create a sandbox here "
        f"({'; '.join(errors)}). {_FIX_HINT}"
    )


def probe_bwrap(bwrap_path: str | None = None) -> BwrapSupport:
    """Find ``bwrap`` and check it can create the namespaces we need.

    Raises :class:`SandboxUnavailableError` with a how-to-fix message otherwise.
    """
    if bwrap_path is None:
        found = shutil.which("bwrap")
        if found is None:
            raise SandboxUnavailableError(f"bubblewrap (`bwrap`) was not found on PATH. {_FIX_HINT}")
        bwrap_path = found
    if not (os.path.isfile(bwrap_path) and os.access(bwrap_path, os.X_OK)):
        raise SandboxUnavailableError(
            f"bubblewrap executable {bwrap_path!r} does not exist or is not executable. {_FIX_HINT}"
        )
    return _probe_cached(os.path.realpath(bwrap_path))


def wrap_command(
    mode: SandboxMode,
    workspace: str | os.PathLike[str],
    argv: Sequence[str],
    *,
    bwrap_path: str | None = None,
) -> list[str]:
    """Return the argv that runs ``argv`` under ``mode`` (unchanged for full access)."""
    mode = SandboxMode(mode)
    if not mode.is_sandboxed:
        return list(argv)
    support = probe_bwrap(bwrap_path)
    return build_bwrap_argv(
        mode, Path(workspace), argv, bwrap=support.path, unshare_user=support.unshare_user
    )
