"""AgentSession against a scripted transport: turns, text and tool edits, retries, interrupt, redirect,
warm-up, undo, chain fallback, context compaction, transcripts (no model needed)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from codespark.agent import AgentOptions, AgentSession
from codespark.agent.testing import ScriptedTransport, reply_call, reply_text
from codespark.agent.transcript import find_session

STATS = "def average(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total / (len(xs) - 1)\n\n\ndef maximum(xs):\n    return max(xs)\n"
FIXED = STATS.replace("(len(xs) - 1)", "len(xs)")


def make(tmp_path: Path, replies, *, delay=0.0, record=False, **opts):
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    (ws / "stats.py").write_text(STATS)
    transport = ScriptedTransport(replies, delay=delay)
    options = AgentOptions(workspace=ws, record=record, sessions_dir=tmp_path / "sessions", **opts)
    return ws, transport, options


async def opened(options, transport, **kw):
    session = AgentSession(options, transport, **kw)
    await session.start()
    events = []
    session.subscribe(events.append)
    return session, events


def kinds(events):
    return [e.kind for e in events]


def user_texts(body):
    return [i["content"] for i in body["input"] if i.get("type") == "message" and i.get("role") == "user"]


def test_whole_file_reply_is_applied_and_turn_finishes(tmp_path):
    ws, t, o = make(tmp_path, [reply_text(f"stats.py\n```python\n{FIXED}```\nFixed.")])

    async def go():
        s, ev = await opened(o, t)
        fin = await s.run("Fix average in stats.py: wrong count")
        await s.close()
        return fin, ev

    fin, ev = asyncio.run(go())
    assert (ws / "stats.py").read_text() == FIXED
    assert fin.status == "completed" and fin.edits == 1 and fin.error is None
    diff = next(e for e in ev if e.kind == "diff.applied")
    assert "-    return total / (len(xs) - 1)" in diff.diff and "+    return total / len(xs)" in diff.diff
    assert "text.delta" in kinds(ev) and kinds(ev)[-1] == "turn.finished"
    # the mentioned file went into the first request, after the worked example
    first = t.requests[0]
    assert "previous_response_id" not in first
    assert any("stats.py\n```python\n" + STATS in u for u in user_texts(first))
    assert first["tools"] and {tool["name"] for tool in first["tools"]} == {"read_file", "list_files", "search", "apply_patch", "shell"}


def test_fragment_reply_merges_into_file(tmp_path):
    fragment = "def average(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total / len(xs)\n"
    ws, t, o = make(tmp_path, [reply_text(f"```python\n{fragment}```")])

    async def go():
        s, ev = await opened(o, t)
        fin = await s.run("fix average in stats.py")
        return fin, ev

    fin, ev = asyncio.run(go())
    assert (ws / "stats.py").read_text() == FIXED
    assert any("merged" in e.text for e in ev if e.kind == "context.note")


def test_failed_edit_is_retried_once_with_the_precise_error(tmp_path):
    bad = "stats.py\n<<<<<<< SEARCH\n    return total / (len(xs) + 7)\n=======\n    return total / len(xs)\n>>>>>>> REPLACE"
    good = bad.replace("+ 7", "- 1")
    ws, t, o = make(tmp_path, [reply_text(bad), reply_text(good)])

    async def go():
        s, ev = await opened(o, t)
        return await s.run("fix average in stats.py"), ev

    fin, ev = asyncio.run(go())
    assert (ws / "stats.py").read_text() == FIXED
    assert fin.edits == 1 and fin.failed_edits == 1 and fin.status == "completed" and fin.error is None
    retry = t.requests[1]
    assert retry["previous_response_id"]
    msg = user_texts(retry)[-1]
    assert "NOT applied" in msg and "SEARCH text was not found" in msg and "Closest match" in msg
    rejected = next(e for e in ev if e.kind == "edit.rejected")
    assert rejected.will_retry


def test_edit_that_fails_twice_reports_error_and_leaves_file(tmp_path):
    bad = "stats.py\n<<<<<<< SEARCH\nnot in the file\n=======\nx\n>>>>>>> REPLACE"
    ws, t, o = make(tmp_path, [reply_text(bad), reply_text(bad)])

    async def go():
        s, _ = await opened(o, t)
        return await s.run("fix average in stats.py")

    fin = asyncio.run(go())
    assert (ws / "stats.py").read_text() == STATS
    assert fin.error and "could not be applied" in fin.error
    assert len(t.requests) == 2


def test_python_syntax_error_is_refused(tmp_path):
    broken = FIXED.replace("    total = 0\n", "  total = 0\n")
    ws, t, o = make(tmp_path, [reply_text(f"stats.py\n```python\n{broken}```"), reply_text(f"stats.py\n```python\n{FIXED}```")])

    async def go():
        s, _ = await opened(o, t)
        return await s.run("fix average in stats.py")

    fin = asyncio.run(go())
    assert (ws / "stats.py").read_text() == FIXED
    assert "syntax error" in user_texts(t.requests[1])[-1]
    assert fin.failed_edits == 1 and fin.edits == 1


def test_tool_call_edit_ends_realtime_turn_and_output_is_sent_next_time(tmp_path):
    patch = "*** Begin Patch\n*** Update File: stats.py\n@@\n-    return total / (len(xs) - 1)\n+    return total / len(xs)\n*** End Patch"
    ws, t, o = make(tmp_path, [reply_call("apply_patch", {"patch": patch}), reply_text("ok")])

    async def go():
        s, ev = await opened(o, t)
        fin = await s.run("fix average in stats.py")
        fin2 = await s.run("thanks")
        return fin, fin2, ev

    fin, fin2, ev = asyncio.run(go())
    assert (ws / "stats.py").read_text() == FIXED
    assert fin.edits == 1 and len(t.requests) == 2  # no extra round after the edit
    assert fin.final_text == "Edited stats.py."
    nxt = t.requests[1]["input"]
    assert nxt[0]["type"] == "function_call_output" and nxt[0]["output"].startswith("Applied.")
    assert any(e.kind == "diff.applied" and e.source == "tool" for e in ev)


def test_read_tool_then_edit(tmp_path):
    ws, t, o = make(tmp_path, [reply_call("read_file", {"file": "stats.py", "start_line": 4}),
                               reply_text(f"stats.py\n```python\n{FIXED}```")])

    async def go():
        s, ev = await opened(o, t)
        return await s.run("fix the average function"), ev

    fin, ev = asyncio.run(go())
    out = t.requests[1]["input"][0]
    assert out["type"] == "function_call_output" and out["output"].startswith("stats.py (lines 4-9 of 9)")
    assert (ws / "stats.py").read_text() == FIXED and fin.tool_calls == 1


def test_interrupt_cancels_on_server_and_applies_nothing(tmp_path):
    long_reply = f"stats.py\n```python\n{FIXED}```" + "x" * 4000
    ws, t, o = make(tmp_path, [reply_text(long_reply, chunk=4)], delay=0.01)

    async def go():
        s, ev = await opened(o, t)
        await s.submit("fix average in stats.py")
        while not any(e.kind == "text.delta" for e in ev):
            await asyncio.sleep(0.005)
        fin = await s.interrupt()
        return fin, ev

    fin, ev = asyncio.run(go())
    assert fin.status == "interrupted" and t.cancels == 1
    assert (ws / "stats.py").read_text() == STATS  # the half-written reply was not applied
    assert next(e for e in ev if e.kind == "assistant.message").status == "cancelled"


def test_redirect_cancels_and_continues_chained_to_cancelled_response(tmp_path):
    ws, t, o = make(tmp_path, [reply_text("Let me think about this " * 50, chunk=4),
                               reply_text(f"stats.py\n```python\n{FIXED}```")], delay=0.01)

    async def go():
        s, ev = await opened(o, t)
        await s.submit("explain stats.py")
        while sum(e.kind == "text.delta" for e in ev) < 3:
            await asyncio.sleep(0.005)
        await s.redirect("no, just fix average so it divides by len(xs)")
        return await s.wait(), ev

    fin, ev = asyncio.run(go())
    assert t.cancels == 1 and len(t.requests) == 2
    cancelled_id = next(e for e in ev if e.kind == "turn.redirected").cancelled_response_id
    second = t.requests[1]
    assert second["previous_response_id"] == cancelled_id
    assert user_texts(second)[-1] == "no, just fix average so it divides by len(xs)"
    assert fin.status == "completed" and (ws / "stats.py").read_text() == FIXED


def test_submit_while_busy_is_a_redirect(tmp_path):
    ws, t, o = make(tmp_path, [reply_text("a" * 2000, chunk=4), reply_text("done")], delay=0.005)

    async def go():
        s, ev = await opened(o, t)
        task = await s.submit("first")
        while not any(e.kind == "text.delta" for e in ev):
            await asyncio.sleep(0.005)
        task2 = await s.submit("second")
        assert task2 is task
        return await task, ev

    fin, ev = asyncio.run(go())
    assert fin.final_text == "done" and any(e.kind == "turn.redirected" for e in ev)


def test_warm_up_prefills_context_and_next_turn_chains_on_it(tmp_path):
    ws, t, o = make(tmp_path, [reply_text(f"stats.py\n```python\n{FIXED}```")])

    async def go():
        s, ev = await opened(o, t)
        warmed = await s.warm_up(["stats.py"])
        again = await s.warm_up(["stats.py"])  # nothing new: no request
        fin = await s.run("fix average")
        return warmed, again, fin

    warmed, again, fin = asyncio.run(go())
    assert warmed is not None and warmed.paths == ["stats.py"] and again is None
    first, second = t.requests
    assert first["generate"] is False and "max_output_tokens" not in first
    assert any("stats.py\n```python\n" + STATS in u for u in user_texts(first))
    assert second["previous_response_id"] and user_texts(second) == ["fix average"]  # context not sent twice
    assert fin.edits == 1


def test_undo_restores_file(tmp_path):
    ws, t, o = make(tmp_path, [reply_text(f"stats.py\n```python\n{FIXED}```")])

    async def go():
        s, ev = await opened(o, t)
        await s.run("fix average in stats.py")
        assert s.undo_depth == 1
        undone = await s.undo()
        nothing = await s.undo()
        return undone, nothing, ev

    undone, nothing, ev = asyncio.run(go())
    assert (ws / "stats.py").read_text() == STATS
    assert undone.paths == ["stats.py"] and "+    return total / (len(xs) - 1)" in undone.diff
    assert nothing is None and ev[-1].kind == "error" and "nothing to undo" in ev[-1].message


def test_changed_file_is_reattached_on_next_turn(tmp_path):
    ws, t, o = make(tmp_path, [reply_text(f"stats.py\n```python\n{FIXED}```"), reply_text("sure")])

    async def go():
        s, _ = await opened(o, t)
        await s.run("fix average in stats.py")
        await s.run("now what?")

    asyncio.run(go())
    assert any("stats.py\n```python\n" + FIXED in u for u in user_texts(t.requests[1]))


def test_previous_response_not_found_falls_back_to_full_history(tmp_path):
    ws, t, o = make(tmp_path, [reply_text("one"), reply_text("two")])

    async def go():
        s, _ = await opened(o, t)
        await s.run("hello")
        t.forget_chain = True
        return await s.run("again")

    fin = asyncio.run(go())
    assert fin.final_text == "two"
    retry = t.requests[-1]
    assert "previous_response_id" not in retry
    assert user_texts(retry)[-1] == "again" and any("hello" == u for u in user_texts(retry))


def test_context_compaction_drops_old_tool_output_with_a_note(tmp_path):
    ws, t, o = make(tmp_path, [], context_window=6000)
    (ws / "big.txt").write_text("".join(f"line {i} of a long file\n" for i in range(900)))  # not a "small repo"
    t.replies = [reply_call("read_file", {"path": "big.txt"}), reply_text("read it"),
                 reply_call("read_file", {"path": "big.txt", "start_line": 100}), reply_text("read more"),
                 reply_text("done")]

    async def go():
        s, ev = await opened(o, t)
        await s.run("look at the long text file")
        await s.run("look at it again from line 100")
        await s.run("ok")
        return ev

    ev = asyncio.run(go())
    notes = [e.text for e in ev if e.kind == "context.note" and "context window" in e.text]
    assert notes and "read_file output" in " ".join(notes)
    resent = [r for r in t.requests[1:] if "previous_response_id" not in r]
    assert resent  # after compaction the shorter conversation is sent whole, once, then chained again
    assert "previous_response_id" in t.requests[-1]
    dropped = [i for i in resent[0]["input"] if i.get("type") == "function_call_output" and "were dropped" in i["output"]]
    assert dropped and "line 5 of a long file" not in json.dumps(dropped)


def test_agents_md_is_in_the_instructions(tmp_path):
    ws, t, o = make(tmp_path, [reply_text("hi")])
    (ws / "AGENTS.md").write_text("Always use tabs.\n")

    async def go():
        s, _ = await opened(o, t)
        await s.run("hello")

    asyncio.run(go())
    assert "Always use tabs." in t.requests[0]["instructions"]
    assert "Do not run tests" in t.requests[0]["instructions"]


def test_transcript_and_resume(tmp_path):
    ws, t, o = make(tmp_path, [reply_text(f"stats.py\n```python\n{FIXED}```")], record=True)

    async def first():
        s, _ = await opened(o, t)
        await s.run("fix average in stats.py")
        await s.close()
        return s.session_id

    sid = asyncio.run(first())
    record = find_session(tmp_path / "sessions", sid[:6])
    assert record.id == sid and record.last_response_id and record.meta["cwd"] == str(ws)
    assert [e["type"] for e in record.events if e["type"].startswith("turn.")] == ["turn.started", "turn.finished"]
    t2 = ScriptedTransport([reply_text("resumed")])
    t2.store = t.store  # the same server

    async def second():
        s = AgentSession(AgentOptions(workspace=ws, record=True, sessions_dir=tmp_path / "sessions"), t2, record=record)
        await s.start()
        fin = await s.run("what did you change?")
        await s.close()
        return fin

    fin = asyncio.run(second())
    assert fin.final_text == "resumed" and fin.turn == 2
    assert t2.requests[0]["previous_response_id"] == record.last_response_id
    again = find_session(tmp_path / "sessions", sid)
    assert sum(e["type"] == "turn.started" for e in again.events) == 2


def test_prose_reply_is_not_an_edit(tmp_path):
    ws, t, o = make(tmp_path, [reply_text("average divides by len(xs) - 1, which is wrong.")])

    async def go():
        s, _ = await opened(o, t)
        return await s.run("what is wrong with average in stats.py?")

    fin = asyncio.run(go())
    assert fin.edits == 0 and fin.error is None and (ws / "stats.py").read_text() == STATS


def test_agents_md_from_repo_root_and_current_directory(tmp_path):
    import subprocess

    from codespark.agent.formats import get_format
    from codespark.agent.modes import get_mode
    from codespark.agent.prompts import instructions

    repo = tmp_path / "repo"
    sub = repo / "pkg"
    sub.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "AGENTS.md").write_text("Root rule: use snake_case.\n")
    (sub / "AGENTS.md").write_text("Package rule: no prints.\n")
    text = instructions(get_mode("realtime"), get_format("whole_file"), sub)
    assert text.index("Root rule") < text.index("Package rule")
    assert "AGENTS.md in the repository root" in text and "AGENTS.md in this directory" in text
    long_text = instructions(get_mode("long"), get_format("whole_file"), repo)
    assert "run the project's tests" in long_text and "Package rule" not in long_text


def test_reply_without_an_edit_gets_one_reminder(tmp_path):
    ws, t, o = make(tmp_path, [reply_text("Fixed the bug in average."), reply_text(f"stats.py\n```python\n{FIXED}```")])

    async def go():
        s, ev = await opened(o, t)
        return await s.run("Fix the bug in average in stats.py"), ev

    fin, ev = asyncio.run(go())
    assert (ws / "stats.py").read_text() == FIXED and fin.edits == 1
    assert "You did not change any file" in user_texts(t.requests[1])[-1]
    assert any("without changing any file" in e.text for e in ev if e.kind == "context.note")


def test_questions_get_no_reminder():
    from codespark.agent.modes import asks_for_an_edit

    assert asks_for_an_edit("Fix the bug in average") and asks_for_an_edit("rename foo to bar in a.py")
    assert asks_for_an_edit("is_adult should return True for 18. Fix it.")
    assert not asks_for_an_edit("what does average do?") and not asks_for_an_edit("explain stats.py")
    assert not asks_for_an_edit("hello") and not asks_for_an_edit("Why would you add a cache?")


def test_set_mode_switches_rules_and_scheduling(tmp_path):
    ws, t, o = make(tmp_path, [reply_text("a"), reply_text("b")])

    async def go():
        s, _ = await opened(o, t)
        await s.run("hello")
        s.set_mode("long")
        s.set_edit_format("definitions")
        await s.run("hello again")

    asyncio.run(go())
    first, second = t.requests
    assert "Do not run tests" in first["instructions"] and "priority" not in first
    assert "run the project's tests" in second["instructions"] and second["priority"] == "background"
    assert "complete new version of each function" in second["instructions"]
