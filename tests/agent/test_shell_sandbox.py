"""Real bubblewrap sandboxes: filesystem, network, timeouts, fail-closed."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from codespark.agent.shell import (
    ApprovalPolicy,
    Decision,
    SandboxMode,
    SandboxUnavailableError,
    ShellTool,
)
from codespark.agent.shell.sandbox import build_bwrap_argv, probe_bwrap

requires_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap not installed (apt-get install bubblewrap)"
)


def _tool(ws: Path, mode: str, **kw) -> ShellTool:
    kw.setdefault("timeout", 30)
    return ShellTool(ws, mode, ApprovalPolicy.NEVER, **kw)


def _procs_with(token: str) -> list[int]:
    """PIDs whose command line contains ``token`` (reads /proc; kills nothing)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if token.encode() in cmdline:
            pids.append(int(entry))
    return pids


def _wait_gone(token: str, within: float = 3.0) -> list[int]:
    end = time.monotonic() + within
    while time.monotonic() < end:
        left = _procs_with(token)
        if not left:
            return []
        time.sleep(0.05)
    return _procs_with(token)


@pytest.fixture
def outside_dir():
    """A host directory outside the workspace and outside /tmp (which the sandbox
    replaces with a private tmpfs, so /tmp writes could never reach the host)."""
    base = "/var/tmp" if os.path.isdir("/var/tmp") else None
    d = Path(tempfile.mkdtemp(prefix="codespark-shell-outside-", dir=base))
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ----------------------------------------------------------------- argv shape


def test_bwrap_argv_read_only_and_workspace_write(tmp_path):
    ro = build_bwrap_argv(SandboxMode.READ_ONLY, tmp_path, ["true"], unshare_user=True)
    ws = str(tmp_path.resolve())
    joined = " ".join(ro)
    for flag in ("--ro-bind / /", "--dev /dev", "--proc /proc", "--tmpfs /tmp",
                 "--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session",
                 "--cap-drop ALL", "--unshare-user", f"--chdir {ws}"):
        assert flag in joined, flag
    assert f"--ro-bind {ws} {ws}" in joined and f"--bind {ws} {ws}" not in joined
    assert ro[-2:] == ["--", "true"]

    rw = build_bwrap_argv(SandboxMode.WORKSPACE_WRITE, tmp_path, ["true"], unshare_user=False)
    joined = " ".join(rw)
    assert f"--bind {ws} {ws}" in joined and "--unshare-user" not in joined
    # The workspace bind must come after the /tmp tmpfs (tmp_path lives under /tmp).
    assert rw.index("--bind") > rw.index("--tmpfs")

    with pytest.raises(ValueError):
        build_bwrap_argv(SandboxMode.DANGER_FULL_ACCESS, tmp_path, ["true"])


@requires_bwrap
def test_probe_finds_working_bwrap():
    support = probe_bwrap()
    assert os.path.basename(support.path) == "bwrap"


# --------------------------------------------------------------- filesystem


@requires_bwrap
def test_workspace_write_can_write_inside_workspace(tmp_path):
    r = _tool(tmp_path, "workspace-write").run("echo hello > made.txt && mkdir -p sub && echo x > sub/y")
    assert r.exit_code == 0, r.output
    assert r.sandbox is SandboxMode.WORKSPACE_WRITE
    assert (tmp_path / "made.txt").read_text() == "hello\n"
    assert (tmp_path / "sub" / "y").exists()


@requires_bwrap
def test_workspace_write_cannot_write_outside_workspace(tmp_path, outside_dir):
    ws = tmp_path / "ws"
    ws.mkdir()
    tool = _tool(ws, "workspace-write")
    etc_target = f"/etc/codespark-sandbox-{uuid.uuid4().hex}"

    r = tool.run(f"echo pwned > {etc_target}")
    assert r.exit_code != 0
    assert "Read-only file system" in r.output
    assert not os.path.exists(etc_target)

    r = tool.run(f"echo pwned > {outside_dir}/escaped.txt")
    assert r.exit_code != 0
    assert not (outside_dir / "escaped.txt").exists()

    # A sibling of the workspace under /tmp: at most lands in the private tmpfs.
    sibling = tmp_path / "sibling.txt"
    tool.run(f"echo pwned > {sibling}")
    assert not sibling.exists()


@requires_bwrap
def test_read_only_blocks_every_write(tmp_path, outside_dir):
    (tmp_path / "existing.txt").write_text("keep\n")
    tool = _tool(tmp_path, "read-only")

    r = tool.run("cat existing.txt && echo new > new.txt")
    assert "keep" in r.output  # reading works
    assert r.exit_code != 0 and "Read-only file system" in r.output
    assert not (tmp_path / "new.txt").exists()

    r = tool.run("echo changed > existing.txt; rm -f existing.txt")
    assert r.exit_code != 0
    assert (tmp_path / "existing.txt").read_text() == "keep\n"

    r = tool.run(f"touch {outside_dir}/x")
    assert r.exit_code != 0 and not (outside_dir / "x").exists()

    # /tmp is a private, writable tmpfs: usable as scratch, invisible to the host.
    marker = f"/tmp/codespark-private-{uuid.uuid4().hex}"
    r = tool.run(f"echo scratch > {marker} && cat {marker}")
    assert r.exit_code == 0 and "scratch" in r.output
    assert not os.path.exists(marker)


@requires_bwrap
def test_sandboxed_root_cannot_remount_rw(tmp_path):
    # As root without --cap-drop ALL this remount succeeds and the sandbox is void.
    r = _tool(tmp_path, "read-only").run(
        "mount -o remount,rw / 2>&1; mount -o remount,rw " + str(tmp_path) + " 2>&1; echo x > escaped.txt"
    )
    assert r.exit_code != 0
    assert not (tmp_path / "escaped.txt").exists()


# ------------------------------------------------------------------ network


@requires_bwrap
@pytest.mark.parametrize("mode", ["read-only", "workspace-write"])
def test_network_is_off_in_sandbox(tmp_path, mode):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    port = server.getsockname()[1]
    code = (
        "import socket\n"
        "s = socket.socket(); s.settimeout(3)\n"
        "try:\n"
        f"    s.connect(('127.0.0.1', {port})); print('CONNECTED')\n"
        "except OSError as e:\n"
        "    print('FAILED', e)\n"
    )
    try:
        inside = _tool(tmp_path, mode).run([sys.executable, "-c", code])
        assert inside.exit_code == 0, inside.output
        assert "FAILED" in inside.output and "CONNECTED" not in inside.output

        # Control: the same probe outside the sandbox does reach the listener.
        outside = _tool(tmp_path, "danger-full-access").run([sys.executable, "-c", code])
        assert "CONNECTED" in outside.output, outside.output
    finally:
        server.close()


# ------------------------------------------------------------------ timeouts


@requires_bwrap
def test_sandboxed_timeout_kills_command_and_children(tmp_path):
    token = str(900000 + uuid.uuid4().int % 99999)
    tool = _tool(tmp_path, "workspace-write", kill_grace=1.0)
    start = time.monotonic()
    # setsid'd grandchild: only the PID namespace (not killpg) can catch it.
    r = tool.run(f"setsid sleep {token}1 & sleep {token}2 & sleep {token}3", timeout=1.0)
    elapsed = time.monotonic() - start
    assert r.timed_out is True
    assert elapsed < 5, elapsed
    assert "Timed out" in r.to_model_text()
    assert _wait_gone(token) == []


@requires_bwrap
def test_sandboxed_yes_is_capped_and_killed(tmp_path):
    r = _tool(tmp_path, "read-only", output_cap=8192).run("yes", timeout=1.0)
    assert r.timed_out and r.truncated
    assert len(r.output) < 8192 + 200
    assert "bytes omitted" in r.output


# ------------------------------------------------------------ fail closed


@pytest.mark.parametrize("bogus", ["/nonexistent/bwrap", "/bin/false"])
@pytest.mark.parametrize("mode", ["read-only", "workspace-write"])
def test_missing_or_broken_bwrap_fails_closed(tmp_path, bogus, mode):
    tool = ShellTool(tmp_path, mode, ApprovalPolicy.NEVER, bwrap_path=bogus)
    with pytest.raises(SandboxUnavailableError) as exc:
        tool.run("touch marker")
    msg = str(exc.value)
    assert "bubblewrap" in msg and "danger-full-access" in msg
    assert not (tmp_path / "marker").exists()
    with pytest.raises(SandboxUnavailableError):
        tool.ensure_sandbox()


def test_fail_closed_happens_before_asking_the_user(tmp_path):
    asked = []
    tool = ShellTool(tmp_path, "workspace-write", ApprovalPolicy.UNTRUSTED,
                     approve=lambda req: asked.append(req) or Decision.APPROVE,
                     bwrap_path="/nonexistent/bwrap")
    with pytest.raises(SandboxUnavailableError):
        tool.run("touch marker")
    assert asked == [] and not (tmp_path / "marker").exists()


def test_approved_escalation_needs_no_bwrap(tmp_path):
    # Escalation means "outside the sandbox", so a missing bwrap does not matter.
    tool = ShellTool(tmp_path, "workspace-write", ApprovalPolicy.ON_REQUEST,
                     approve=lambda req: Decision.APPROVE, bwrap_path="/nonexistent/bwrap")
    r = tool.run("touch marker", escalate=True)
    assert r.exit_code == 0 and r.sandbox is SandboxMode.DANGER_FULL_ACCESS
    assert (tmp_path / "marker").exists()


def test_danger_full_access_runs_without_bwrap(tmp_path):
    tool = ShellTool(tmp_path, "danger-full-access", "never", bwrap_path="/nonexistent/bwrap")
    assert tool.ensure_sandbox() is None
    r = tool.run("echo ok > f && cat f")
    assert r.exit_code == 0 and "ok" in r.output
