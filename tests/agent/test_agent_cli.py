"""`codespark exec` and `codespark resume` as functions, on a scripted transport (no server, no model)."""

from __future__ import annotations

import argparse
import contextlib
import json

import pytest

from codespark.agent import session as session_mod
from codespark.agent.testing import ScriptedTransport, reply_text
from codespark.cli import exec_cmd, launcher, resume_cmd

STATS = "def average(xs):\n    return sum(xs) / (len(xs) - 1)\n"
FIXED = "def average(xs):\n    return sum(xs) / len(xs)\n"


@pytest.fixture
def scripted(monkeypatch, tmp_path):
    """Route sessions to a ScriptedTransport whose replies the test sets; no server is needed."""
    state = tmp_path / "state"
    monkeypatch.setenv("CODESPARK_STATE_DIR", str(state))
    transports: list[ScriptedTransport] = []
    replies: list = []

    @contextlib.contextmanager
    def fake_server(url=None, **kw):
        yield launcher.ServerHandle("http://scripted.invalid", started=False)

    def fake_make_transport(url, kind="websocket", api_key=None):
        t = ScriptedTransport(replies)
        if transports:
            t.store = transports[-1].store  # the same server across sessions
        transports.append(t)
        return t

    monkeypatch.setattr(launcher, "ensure_server", fake_server)
    monkeypatch.setattr(session_mod, "make_transport", fake_make_transport)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "stats.py").write_text(STATS)
    return ws, replies, transports, state


def parse(module, argv):
    p = argparse.ArgumentParser()
    module.add_arguments(p)
    return p.parse_args(argv)


def test_exec_prints_final_message_and_exits_0(scripted, capsys):
    ws, replies, _, state = scripted
    replies.append(reply_text(f"stats.py\n```python\n{FIXED}```\nDone."))
    code = exec_cmd.run(parse(exec_cmd, ["--cd", str(ws), "fix average in stats.py"]))
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out.strip().endswith("Done.")
    assert "edited stats.py" in out.err and "+    return sum(xs) / len(xs)" in out.err
    assert (ws / "stats.py").read_text() == FIXED
    assert len(list((state / "sessions").glob("*.jsonl"))) == 1


def test_exec_json_prints_one_event_per_line(scripted, capsys):
    ws, replies, _, _ = scripted
    replies.append(reply_text(f"stats.py\n```python\n{FIXED}```"))
    code = exec_cmd.run(parse(exec_cmd, ["--cd", str(ws), "--json", "fix average in stats.py"]))
    lines = capsys.readouterr().out.splitlines()
    events = [json.loads(line) for line in lines]
    assert code == 0
    assert events[0]["type"] == "session.started" and events[-1]["type"] == "turn.finished"
    assert any(e["type"] == "diff.applied" for e in events)


def test_exec_fails_with_clear_message_when_edit_cannot_apply(scripted, capsys):
    ws, replies, _, _ = scripted
    bad = "stats.py\n<<<<<<< SEARCH\nnot there\n=======\nx\n>>>>>>> REPLACE"
    replies += [reply_text(bad), reply_text(bad)]
    code = exec_cmd.run(parse(exec_cmd, ["--cd", str(ws), "fix average in stats.py"]))
    err = capsys.readouterr().err
    assert code == 1
    assert "codespark: the model's edit could not be applied" in err and "SEARCH text was not found" in err
    assert (ws / "stats.py").read_text() == STATS


def test_exec_usage_errors(scripted, capsys, tmp_path):
    assert exec_cmd.run(parse(exec_cmd, ["--cd", str(tmp_path / "missing"), "x"])) == 2
    assert exec_cmd.run(parse(exec_cmd, [""])) == 2
    err = capsys.readouterr().err
    assert "not a directory" in err and "a PROMPT is required" in err


def test_resume_list_show_and_continue(scripted, capsys):
    ws, replies, transports, _ = scripted
    replies.append(reply_text(f"stats.py\n```python\n{FIXED}```"))
    assert exec_cmd.run(parse(exec_cmd, ["--cd", str(ws), "fix average in stats.py"])) == 0
    capsys.readouterr()
    assert resume_cmd.run(parse(resume_cmd, ["--list"])) == 0
    listing = capsys.readouterr().out
    sid = listing.split()[0]
    assert "fix average in stats.py" in listing and str(ws) in listing
    assert resume_cmd.run(parse(resume_cmd, [sid])) == 0
    shown = capsys.readouterr().out
    assert "> fix average in stats.py" in shown and "edited stats.py" in shown
    replies.append(reply_text("I changed the divisor."))
    assert resume_cmd.run(parse(resume_cmd, ["--last", "what did you change?"])) == 0
    assert capsys.readouterr().out.strip() == "I changed the divisor."
    resumed = transports[-1].requests[0]
    assert resumed.get("previous_response_id") in transports[0].store  # continued the recorded chain
    assert resumed["input"][-1]["content"] == "what did you change?"


def test_resume_unknown_id(scripted, capsys):
    assert resume_cmd.run(parse(resume_cmd, ["nope", "hello"])) == 2
    assert "no recorded sessions" in capsys.readouterr().err
