"""`codespark resume [--last | ID] [PROMPT]`: continue a recorded session.

With a PROMPT, the session is reopened (same workspace, mode, edit format, conversation) and runs one more
turn, printed like `codespark exec`. Without one, the terminal UI reopens it when it is installed
(codespark.cli.tui.run_tui(args, record)); otherwise the transcript is summarised. `--list` lists sessions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..agent.settings import AgentOptions
from ..agent.transcript import SessionRecord, find_session, list_sessions, load
from .exec_cmd import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_common_arguments, drive, read_prompt, with_session


def add_arguments(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group()
    which.add_argument("--last", action="store_true", help="the most recent session (the default)")
    which.add_argument("--list", action="store_true", help="list recorded sessions, newest first")
    p.add_argument("session", nargs="?", metavar="ID", help="session id (or a unique prefix, or a transcript path)")
    p.add_argument("prompt", nargs="?", help="run one more turn with this prompt ('-' reads stdin)")
    add_common_arguments(p)
    p.set_defaults(func=run)


def _sessions_dir() -> Path:
    return AgentOptions().transcripts_dir


def _summary(record: SessionRecord) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.meta.get("created", 0)))
    prompt = record.first_prompt().replace("\n", " ")
    return f"{record.id}  {when}  {record.meta.get('mode', '?'):8}  {record.meta.get('cwd', '?')}  {prompt[:60]}"


def _print_list(as_json: bool) -> int:
    paths = list_sessions(_sessions_dir())
    if not paths:
        print(f"no recorded sessions in {_sessions_dir()}", file=sys.stderr)
        return EXIT_OK
    for path in paths[:50]:
        try:
            rec = load(path)
        except (OSError, ValueError):
            continue
        if as_json:
            print(json.dumps({"id": rec.id, "path": str(path), "cwd": rec.meta.get("cwd"), "mode": rec.meta.get("mode"),
                              "created": rec.meta.get("created"), "first_prompt": rec.first_prompt()}))
        else:
            print(_summary(rec))
    return EXIT_OK


def _print_transcript(record: SessionRecord) -> None:
    print(f"session {record.id} in {record.meta.get('cwd')} ({record.meta.get('mode')} mode)")
    for ev in record.events:
        kind = ev.get("type")
        if kind == "turn.started":
            print(f"\n> {ev.get('text', '')}")
        elif kind == "diff.applied":
            print(f"  edited {', '.join(ev.get('paths', []))}")
        elif kind == "edit.undone":
            print(f"  undid the edit of {', '.join(ev.get('paths', []))}")
        elif kind == "turn.finished":
            text = (ev.get("final_text") or "").strip()
            if text:
                print("  " + text.replace("\n", "\n  "))
    print(f"\nContinue it with: codespark resume {record.id} \"PROMPT\"")


def run(args: argparse.Namespace) -> int:
    if args.list:
        return _print_list(args.json)
    ident, prompt = args.session, read_prompt(args.prompt)
    if args.last and ident is not None and prompt is None:
        ident, prompt = None, read_prompt(ident)  # `resume --last "PROMPT"`
    try:
        record = find_session(_sessions_dir(), None if args.last else ident)
    except (LookupError, ValueError, OSError) as exc:
        if ident is not None and prompt is None and not args.last:
            # `resume "PROMPT"` with no id: the prompt was taken as an id; treat it as --last PROMPT
            try:
                record, prompt = find_session(_sessions_dir(), None), ident
            except (LookupError, ValueError, OSError):
                print(f"codespark resume: {exc}", file=sys.stderr)
                return EXIT_USAGE
        else:
            print(f"codespark resume: {exc}", file=sys.stderr)
            return EXIT_USAGE
    cwd = Path(record.meta.get("cwd", "."))
    if not cwd.is_dir():
        print(f"codespark resume: the session's workspace {cwd} no longer exists", file=sys.stderr)
        return EXIT_FAILED
    if not prompt:
        try:
            from . import tui  # type: ignore[attr-defined]  # built separately; optional here
        except ImportError:
            tui = None
        if tui is not None and hasattr(tui, "run_tui") and sys.stdin.isatty():
            return int(tui.run_tui(args, record=record) or 0)
        _print_transcript(record)
        return EXIT_OK
    options = AgentOptions(workspace=cwd, mode=record.meta.get("mode", "realtime"),
                           edit_format=record.meta.get("edit_format") or None, model=args.model or record.meta.get("model"),
                           sandbox=args.sandbox, approval=args.approval, record=not args.no_record)
    return with_session(args, options, lambda session: drive(session, prompt, as_json=args.json, quiet=args.quiet),
                        record=record)
