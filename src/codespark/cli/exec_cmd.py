"""`codespark exec "PROMPT"`: the agent, non-interactive. Prints the final message (or, with --json, one JSON
event per line); progress goes to stderr. Exit status: 0 done, 1 the turn failed or its edit could not be
applied, 2 bad usage, 3 no server, 130 interrupted (Ctrl-C cancels the generation on the server first).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from ..agent.events import AgentEvent
from ..agent.formats import DEFAULT_EDIT_FORMAT, FORMATS
from ..agent.modes import MODES
from ..agent.settings import AgentOptions
from ..agent.shell import ApprovalPolicy, SandboxMode

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_SERVER, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON event per line instead of the final message")
    p.add_argument("--server", metavar="URL", default=None,
                   help="a running Responses server (default: reuse one on the default port, else start the embedded one)")
    p.add_argument("--transport", choices=["websocket", "http"], default="websocket",
                   help="WebSocket (default: one warm connection) or stateless HTTP/SSE")
    p.add_argument("--model", default=None, help="model id on the server (default: the server's default)")
    p.add_argument("--sandbox", choices=[m.value for m in SandboxMode], default=SandboxMode.WORKSPACE_WRITE.value,
                   help="where shell commands run (default workspace-write)")
    p.add_argument("--approval", choices=[a.value for a in ApprovalPolicy], default=ApprovalPolicy.NEVER.value,
                   help="when to ask before a command; exec cannot ask, so asking means denied (default never)")
    p.add_argument("--no-record", action="store_true", help="do not write a session transcript")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", nargs="?", help="what to do ('-' reads it from stdin)")
    p.add_argument("--cd", "-C", metavar="DIR", default=None, help="workspace directory (default: the current one)")
    p.add_argument("--mode", choices=sorted(MODES), default="realtime",
                   help="realtime (default): minimal edits, no tests unless asked; long: plans, runs tests, iterates")
    p.add_argument("--edit-format", choices=sorted(FORMATS), default=None,
                   help=f"how the model is asked to write edits (default {DEFAULT_EDIT_FORMAT}; all are accepted)")
    add_common_arguments(p)
    p.set_defaults(func=run)


class ProgressPrinter:
    """Human-readable progress on stderr (diffs coloured when stderr is a terminal)."""

    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.color = self.stream.isatty() and os.environ.get("NO_COLOR") is None

    def _c(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def diff(self, diff: str) -> str:
        out = []
        for line in diff.splitlines():
            if line.startswith(("+++", "---")):
                out.append(self._c("1", line))
            elif line.startswith("+"):
                out.append(self._c("32", line))
            elif line.startswith("-"):
                out.append(self._c("31", line))
            elif line.startswith("@@"):
                out.append(self._c("36", line))
            else:
                out.append(line)
        return "\n".join(out)

    def __call__(self, ev: AgentEvent) -> None:
        if self.quiet:
            return
        d = ev.to_dict()
        kind = d["type"]
        line = None
        if kind == "diff.applied":
            line = self._c("1;32", f"edited {', '.join(d['paths'])}") + "\n" + self.diff(d["diff"])
        elif kind == "edit.rejected":
            line = self._c("33", "edit not applied: ") + d["message"] + (" (asking the model to retry)" if d["will_retry"] else "")
        elif kind == "tool.started":
            args = json.dumps(d["arguments"], ensure_ascii=False)
            line = self._c("2", f"tool {d['name']} {args[:200]}")
        elif kind == "command.output":
            status = "refused" if d["refused"] else ("timed out" if d["timed_out"] else f"exit {d['exit_code']}")
            line = self._c("2", f"$ {d['command']}  ({status})")
        elif kind == "context.note":
            line = self._c("2", f"note: {d['text']}")
        elif kind == "turn.redirected":
            line = self._c("35", f"redirected: {d['text']}")
        elif kind == "error":
            line = self._c("31", f"error: {d['message']}")
        if line:
            print(line, file=self.stream, flush=True)


async def drive(session, prompt: str, *, as_json: bool, quiet: bool, out=None) -> int:
    """Run one turn on `session`, print what exec prints; returns the exit status."""
    out = out or sys.stdout
    printer = ProgressPrinter(quiet=quiet or as_json)
    session.subscribe(printer)
    if as_json:
        session.subscribe(lambda ev: print(json.dumps(ev.to_dict(), ensure_ascii=False), file=out, flush=True))
        print(json.dumps({"type": "session.started", "session_id": session.session_id, "transport": session.transport.kind,
                          "server": session.transport.base_url, "mode": session.mode.name,
                          "edit_format": session.format.name, "workspace": str(session.root)}), file=out, flush=True)
    loop = asyncio.get_running_loop()
    interrupted = False

    def on_sigint() -> None:
        nonlocal interrupted
        interrupted = True
        loop.create_task(session.interrupt(wait=False))

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    except (NotImplementedError, RuntimeError):
        pass
    try:
        finished = await session.run(prompt)
    finally:
        try:
            loop.remove_signal_handler(signal.SIGINT)
        except (NotImplementedError, RuntimeError):
            pass
    if not as_json and finished.final_text:
        print(finished.final_text.rstrip("\n"), file=out, flush=True)
    if interrupted or finished.status == "interrupted":
        return EXIT_INTERRUPTED
    if finished.status != "completed" or finished.error:
        if not as_json:
            print(f"codespark: {finished.error or 'the turn ' + finished.status}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    return EXIT_OK


def read_prompt(raw: str | None) -> str | None:
    if raw == "-":
        return sys.stdin.read()
    return raw


def run(args: argparse.Namespace) -> int:
    prompt = read_prompt(args.prompt)
    if not prompt or not prompt.strip():
        print("codespark exec: a PROMPT is required, e.g. codespark exec \"rename foo to bar in app.py\"", file=sys.stderr)
        return EXIT_USAGE
    workspace = Path(args.cd or ".").expanduser()
    if not workspace.is_dir():
        print(f"codespark exec: --cd {workspace}: not a directory", file=sys.stderr)
        return EXIT_USAGE
    try:
        options = AgentOptions(workspace=workspace, mode=args.mode, edit_format=args.edit_format or DEFAULT_EDIT_FORMAT,
                               model=args.model, sandbox=args.sandbox, approval=args.approval, record=not args.no_record)
    except ValueError as exc:
        print(f"codespark exec: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return with_session(args, options, lambda session: drive(session, prompt, as_json=args.json, quiet=args.quiet))


def with_session(args: argparse.Namespace, options: AgentOptions, body, record: Any = None) -> int:
    """Find or start a server, open a session, run `body(session)` (a coroutine function), close everything."""
    from ..agent.session import AgentSession
    from ..agent.transport import ResponsesError
    from .launcher import ServerUnavailable, ensure_server

    try:
        with ensure_server(args.server, quiet=args.quiet or args.json) as server:
            async def main() -> int:
                try:
                    session = await AgentSession.open(options, server.url, transport=args.transport, record=record)
                except ResponsesError as exc:
                    print(f"codespark: cannot talk to {server.url}: {exc.message}", file=sys.stderr)
                    return EXIT_NO_SERVER
                try:
                    return await body(session)
                finally:
                    await session.close()

            return asyncio.run(main())
    except ServerUnavailable as exc:
        print(f"codespark: {exc}", file=sys.stderr)
        return EXIT_NO_SERVER
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    """`python -m codespark.cli.exec_cmd ...` (the same as `codespark exec ...`)."""
    parser = argparse.ArgumentParser(prog="codespark exec", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
