"""Process handling without a sandbox: timeouts, process groups, output cap."""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

from codespark.agent.shell import CommandResult, SandboxMode, ShellTool
from codespark.agent.shell.runner import OutputCapture, run_process


def _procs_with(token: str) -> list[int]:
    """PIDs whose command line contains ``token`` (reads /proc; kills nothing)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if token.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def _wait_gone(token: str, within: float = 3.0) -> list[int]:
    end = time.monotonic() + within
    while time.monotonic() < end and _procs_with(token):
        time.sleep(0.05)
    return _procs_with(token)


def _tool(ws: Path, **kw) -> ShellTool:
    return ShellTool(ws, "danger-full-access", "never", **kw)


def test_runs_in_workspace_with_exit_code(tmp_path):
    r = _tool(tmp_path).run("pwd; echo to-stderr >&2; exit 3")
    assert r.exit_code == 3 and not r.timed_out and not r.truncated
    assert str(tmp_path.resolve()) in r.output
    assert "to-stderr" in r.output  # stderr is merged
    assert r.sandbox is SandboxMode.DANGER_FULL_ACCESS


def test_argv_list_runs_without_a_shell(tmp_path):
    r = _tool(tmp_path).run([sys.executable, "-c", "import sys; print(sys.argv[1:])", "$HOME", "a b"])
    assert r.exit_code == 0
    assert "['$HOME', 'a b']" in r.output


def test_missing_program_is_exit_127(tmp_path):
    r = _tool(tmp_path).run(["/nonexistent/program-xyz"])
    assert r.exit_code == 127 and "program-xyz" in r.output


def test_stdin_is_closed(tmp_path):
    start = time.monotonic()
    r = _tool(tmp_path).run("cat; read line; echo after-read", timeout=10)
    assert not r.timed_out and time.monotonic() - start < 5
    assert "after-read" in r.output


def test_timeout_kills_whole_process_group(tmp_path):
    token = str(800000 + uuid.uuid4().int % 99999)
    start = time.monotonic()
    r = _tool(tmp_path, kill_grace=1.0).run(
        f"sleep {token}1 & bash -c 'sleep {token}2' & sleep {token}3", timeout=1.0
    )
    elapsed = time.monotonic() - start
    assert r.timed_out is True
    assert 0.9 < elapsed < 4, elapsed
    assert r.exit_code != 0
    assert _wait_gone(token) == []


def test_sigterm_ignoring_command_gets_sigkill(tmp_path):
    token = str(700000 + uuid.uuid4().int % 99999)
    start = time.monotonic()
    r = _tool(tmp_path, kill_grace=0.5).run(f"trap '' TERM; sleep {token}", timeout=0.5)
    assert r.timed_out
    assert time.monotonic() - start < 4
    assert _wait_gone(token) == []


def test_default_timeout_is_configurable(tmp_path):
    # generous margins: a login shell can take a second to start on a loaded machine
    tool = _tool(tmp_path, timeout=3, kill_grace=0.2)
    assert tool.run("sleep 60").timed_out
    assert not tool.run("true").timed_out
    assert not tool.run("sleep 4", timeout=30).timed_out  # per-call override


def test_yes_forever_is_capped(tmp_path):
    r = _tool(tmp_path, output_cap=4096).run("yes", timeout=1.0)
    assert r.timed_out and r.truncated
    assert len(r.output) < 4096 + 100
    assert r.output.startswith("y\ny\n") and r.output.rstrip().endswith("y")
    assert "bytes omitted" in r.output


def test_cap_keeps_head_and_tail_with_exact_count(tmp_path):
    full = "".join(f"{i}\n" for i in range(1, 100001))
    r = _tool(tmp_path, output_cap=1000).run("seq 1 100000")
    assert r.exit_code == 0 and r.truncated and not r.timed_out
    assert r.output.startswith("1\n2\n3\n")
    assert r.output.endswith("99999\n100000\n")
    assert f"... {len(full) - 1000} bytes omitted ..." in r.output


def test_small_output_is_untouched(tmp_path):
    r = _tool(tmp_path).run("printf 'a\\nb\\n'")
    assert r.output == "a\nb\n" and not r.truncated


def test_background_child_holding_pipe_does_not_block(tmp_path):
    start = time.monotonic()
    r = _tool(tmp_path).run("(sleep 3 &); echo done", timeout=30)
    assert time.monotonic() - start < 2.5
    assert r.exit_code == 0 and "done" in r.output and not r.timed_out


def test_output_capture_unit():
    cap = OutputCapture(10)
    cap.feed(b"0123")
    assert cap.text() == "0123" and not cap.truncated
    cap.feed(b"456789abcdef")
    assert cap.truncated and cap.total == 16 and cap.omitted == 6
    assert cap.text() == "01234\n\n... 6 bytes omitted ...\n\nbcdef"
    zero = OutputCapture(0)
    zero.feed(b"abc")
    assert zero.truncated and "3 bytes omitted" in zero.text()


def test_run_process_direct(tmp_path):
    out = run_process(["bash", "-c", "echo hi"], cwd=tmp_path, timeout=5, output_cap=100)
    assert out.exit_code == 0 and out.output == "hi\n"


def test_to_model_text():
    ok = CommandResult(0, "hello\n", False, False, 0.25, SandboxMode.WORKSPACE_WRITE)
    text = ok.to_model_text()
    assert "Exit code: 0" in text and "hello" in text and "workspace-write" in text
    assert "Timed out" not in text
    slow = CommandResult(143, "", True, False, 60.0, SandboxMode.READ_ONLY)
    assert "Timed out after 60.0 s" in slow.to_model_text()
    assert "(no output)" in slow.to_model_text()
    no = CommandResult(None, "The user denied this command.", False, False, 0.0,
                       SandboxMode.READ_ONLY, denied=True)
    assert no.to_model_text().startswith("Command was NOT run.") and not no.ran
