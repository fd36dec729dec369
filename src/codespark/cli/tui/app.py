"""The `codespark` terminal UI: one warm AgentSession (WebSocket transport) driven from a Textual app.

    app = CodesparkApp(AgentOptions(workspace=...), server_url=None)   # None: reuse or start the embedded server
    app.run()                                                           # or `async with app.run_test() as pilot`

What the user gets: replies and diffs streamed as they are generated; Esc interrupts (session.interrupt());
Enter while the agent works redirects it (session.submit == redirect when busy); the context is warmed up
when the UI opens and again whenever the draft names files that exist (300 ms after typing stops);
/undo /mode /clear /help /quit; approval requests as a modal. The app never shows a stack trace: every
failure becomes an error line in the transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import Input

from ...agent.events import (
    AgentEvent,
    AssistantMessage,
    CommandOutput,
    ContextNote,
    DiffApplied,
    EditRejected,
    EditUndone,
    ErrorEvent,
    Redirected,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
    TurnStarted,
    WarmedUp,
)
from ...agent.modes import MODES
from ...agent.settings import AgentOptions
from .widgets import (
    ApprovalScreen,
    AssistantEntry,
    CommandEntry,
    DiffEntry,
    ErrorEntry,
    NoteEntry,
    StatusLine,
    Transcript,
    TurnEndEntry,
    UserEntry,
)

DEBOUNCE_S = 0.3
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
HELP = (
    "Enter sends · Enter while it works redirects · Esc interrupts · Ctrl+C / Ctrl+D quit\n"
    "/undo  revert the last edit      /mode realtime|long  switch mode\n"
    "/clear  start a new session      /quit  leave"
)
_PATHISH = re.compile(r"[A-Za-z0-9_./-]+")


def draft_paths(root: Path, text: str) -> list[str]:
    """Workspace files that a draft mentions (by path, unique name, or unique stem), existing on disk."""
    from ...agent import repo
    from ...agent.context import mentioned_files

    root = root.resolve()
    try:
        files = repo.all_files(root)
    except Exception:
        files = []
    out = [f for f in mentioned_files(text, files) if (root / f).is_file()]
    for token in _PATHISH.findall(text):
        token = token.rstrip(".,:;")
        if "." not in token and "/" not in token:
            continue
        try:
            p = (root / token).resolve()
            rel = p.relative_to(root).as_posix()
        except (ValueError, OSError):
            continue
        if p.is_file() and rel not in out:
            out.append(rel)
    return out


def _file_key(root: Path, rel: str) -> tuple[str, int, int]:
    try:
        st = (root / rel).stat()
        return rel, st.st_mtime_ns, st.st_size
    except OSError:
        return rel, 0, 0


class CodesparkApp(App):
    CSS_PATH = "codespark.tcss"
    TITLE = "codespark"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("escape", "interrupt", "interrupt", priority=True),
        Binding("ctrl+c", "quit", "quit", priority=True),
        Binding("ctrl+d", "quit", "quit", priority=True),
    ]

    def __init__(self, options: AgentOptions, server_url: str | None = None, *, transport: Any = "websocket",
                 record: Any = None, api_key: str | None = None, ensure_server: bool = True) -> None:
        super().__init__()
        self.options = options
        self.server_url = server_url
        self.transport_kind = transport  # "websocket" | "http" | a Transport instance (tests)
        self.record = record
        self.api_key = api_key
        self.ensure = ensure_server and isinstance(transport, str)
        self.exit_stack = contextlib.ExitStack()  # holds the embedded server, if we started one
        self.server_started = False
        self.session: Any = None
        self.model_name: str | None = options.model
        self.state = "starting"
        self.connecting = False
        self.closing = False
        self.events: list[AgentEvent] = []  # everything the session said (tests read this)
        self.finished: list[TurnFinished] = []
        self.warmups: list[WarmedUp] = []
        self.warm_requests: list[list[str] | None] = []  # what the UI asked to warm up, in order
        self._warming = False
        self._warm_next: list[str] | None = None
        self._warmed: set[tuple[str, int, int]] = set()
        self._debounce: Timer | None = None
        self._spin = 0
        self._approvals: set[asyncio.Future] = set()
        self._unsubscribe: Any = None
        self._queued: list[str] = []

    # -- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Transcript(id="transcript")
        yield StatusLine(id="status")
        yield Input(placeholder="Ask codespark…  (Enter send · Esc interrupt · /help)", id="prompt")

    @property
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)

    @property
    def prompt_input(self) -> Input:
        return self.query_one("#prompt", Input)

    async def on_mount(self) -> None:
        self.prompt_input.focus()
        self.set_interval(0.08, self._tick)
        self.transcript.add(NoteEntry(f"codespark in {self.options.workspace} — {self.options.mode} mode. "
                                      "Type an instruction; /help for commands.", kind="info"))
        if self.record is not None:
            self._replay(self.record)
        self._tick()
        self.run_worker(self._connect(), group="connect", exit_on_error=False)

    # -- connection ------------------------------------------------------------------------------

    async def _connect(self, record: Any = None) -> None:
        from ...agent.session import AgentSession
        from ...agent.transport import ResponsesError
        from ..launcher import ServerUnavailable, ensure_server

        if self.connecting:
            return
        self.connecting = True
        try:
            if self.ensure and not self.server_started:
                self.state = "finding server" if self.server_url else "starting server"
                handle = await asyncio.to_thread(self.exit_stack.enter_context, ensure_server(self.server_url))
                self.server_url, self.server_started = handle.url, handle.started
                self.ensure = False
                if handle.started:
                    self.transcript.add(NoteEntry(f"started the embedded server at {handle.url}", kind="info"))
            self.state = "connecting"
            session = await AgentSession.open(self.options, self.server_url or "", transport=self.transport_kind,
                                              approver=self._approve, api_key=self.api_key,
                                              record=record if record is not None else self.record)
        except ServerUnavailable as exc:
            self.state = "no server"
            self._error(f"no server: {exc}")
            return
        except ResponsesError as exc:
            self.state = "disconnected"
            self._error(f"cannot talk to {self.server_url}: {exc.message}  (/clear retries)")
            return
        except Exception as exc:  # never a stack trace in the UI
            self.state = "disconnected"
            self._error(f"could not open a session: {type(exc).__name__}: {exc}")
            return
        finally:
            self.connecting = False
        self.record = None
        self.session = session
        self.server_url = session.transport.base_url
        self._unsubscribe = session.subscribe(self._on_event)
        self.state = "idle"
        if self.model_name is None:
            with contextlib.suppress(Exception):
                models = await session.transport.models()
                if models:
                    self.model_name = models[0].get("id")
        queued, self._queued = self._queued, []
        if queued:
            await self._send("\n".join(queued))
        else:
            await self._warm(None)

    async def _close_session(self) -> None:
        session, self.session = self.session, None
        for fut in list(self._approvals):
            if not fut.done():
                fut.set_result("deny")
        if session is None:
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        try:
            await asyncio.wait_for(session.close(), timeout=15)
        except Exception:
            pass

    def close_server(self) -> None:
        """Stop the embedded server if this app started it (idempotent)."""
        with contextlib.suppress(Exception):
            self.exit_stack.close()

    async def action_quit(self) -> None:
        if self.closing:
            return
        self.closing = True
        self.state = "closing"
        self._tick()
        await self._close_session()
        await asyncio.to_thread(self.close_server)
        self.exit()

    # -- input -----------------------------------------------------------------------------------

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value
        self.prompt_input.value = ""
        if self._debounce is not None:
            self._debounce.stop()
        if not text.strip():
            return
        if text.strip().startswith("/"):
            self.run_worker(self._command(text.strip()), group="command", exit_on_error=False)
            return
        if self.session is None:
            if self.connecting or self.state in ("starting", "starting server", "finding server", "connecting"):
                self._queued.append(text)
                self.transcript.add(NoteEntry("not connected yet: this will be sent once the session is open",
                                              kind="info"))
            else:
                self._error("not connected to a server (/clear retries)")
            return
        self.run_worker(self._send(text), group="send", exit_on_error=False)

    async def _send(self, text: str) -> None:
        session = self.session
        if session is None:
            return
        try:
            await session.submit(text)  # while busy this is a redirect
        except Exception as exc:
            self._error(f"could not send: {type(exc).__name__}: {exc}")

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        value = event.value
        if value.strip() and not value.lstrip().startswith("/"):
            self._debounce = self.set_timer(DEBOUNCE_S, self._draft_settled)

    def _draft_settled(self) -> None:
        text = self.prompt_input.value
        if not text.strip() or self.session is None or self.session.busy:
            return
        self.run_worker(self._warm_draft(text), group="warm", exit_on_error=False)

    async def _warm_draft(self, text: str) -> None:
        root = self.options.workspace
        paths = await asyncio.to_thread(draft_paths, root, text)
        if not paths:
            return
        keys = await asyncio.to_thread(lambda: [_file_key(root, p) for p in paths])
        if all(k in self._warmed for k in keys):
            return
        await self._warm(paths)

    async def _warm(self, paths: list[str] | None) -> None:
        session = self.session
        if session is None or session.busy:
            return
        if self._warming:
            self._warm_next = sorted(set(self._warm_next or []) | set(paths or []))
            return
        self._warming = True
        self.warm_requests.append(paths)
        try:
            await session.warm_up(paths)
        except Exception as exc:
            self._error(f"warm-up failed: {type(exc).__name__}: {exc}")
        finally:
            self._warming = False
        if paths and not session.busy:
            root = self.options.workspace
            self._warmed.update(_file_key(root, p) for p in paths)
        nxt, self._warm_next = self._warm_next, None
        if nxt and session is self.session:
            await self._warm(nxt)

    def action_interrupt(self) -> None:
        if isinstance(self.screen, ApprovalScreen):
            self.screen.dismiss("deny")
            return
        session = self.session
        if session is not None and session.busy:
            self.state = "stopping"
            self.run_worker(self._interrupt(session), group="interrupt", exit_on_error=False)
        elif self.prompt_input.value:
            self.prompt_input.value = ""

    async def _interrupt(self, session: Any) -> None:
        try:
            await session.interrupt()
        except Exception as exc:
            self._error(f"interrupt failed: {type(exc).__name__}: {exc}")

    # -- slash commands --------------------------------------------------------------------------

    async def _command(self, line: str) -> None:
        name, _, arg = line[1:].partition(" ")
        name, arg = name.lower(), arg.strip()
        if name in ("quit", "exit", "q"):
            await self.action_quit()
        elif name == "help":
            self.transcript.add(NoteEntry(HELP, kind="info"))
        elif name == "undo":
            if self.session is None:
                self._error("not connected: nothing to undo")
            elif self.session.busy:
                self._error("cannot undo while the agent is working: press Esc first")
            else:
                try:
                    await self.session.undo()
                except Exception as exc:
                    self._error(f"undo failed: {exc}")
        elif name == "mode":
            self._set_mode(arg)
        elif name in ("clear", "new", "reset"):
            await self._clear()
        else:
            self._error(f"unknown command /{name}: try /undo, /mode realtime|long, /clear, /quit")

    def _set_mode(self, name: str) -> None:
        name = name.lower()
        if not name:
            self.transcript.add(NoteEntry(f"mode: {self.options.mode} (/mode realtime|long to switch)", kind="info"))
            return
        if name not in MODES:
            self._error(f"unknown mode {name!r}: choose realtime or long")
            return
        if self.session is not None and self.session.busy:
            self._error("cannot switch modes while the agent is working: press Esc first")
            return
        self.options.mode = name
        session = self.session
        if session is not None:
            if hasattr(session, "set_mode"):
                session.set_mode(name)
            else:  # until AgentSession.set_mode exists: the same three fields it would set
                from ...agent import prompts
                from ...agent.modes import get_mode

                session.mode = get_mode(name)
                session.options.mode = name
                session.instructions = prompts.instructions(session.mode, session.format, session.root)
        self.transcript.add(NoteEntry(
            f"mode: {name} — " + ("minimal targeted edits, no tests unless asked" if name == "realtime"
                                  else "plans, runs tests, iterates"), kind="info"))

    async def _clear(self) -> None:
        await self._close_session()
        await self.transcript.clear()
        self._warmed.clear()
        self.transcript.add(NoteEntry(f"new session in {self.options.workspace} — {self.options.mode} mode", kind="info"))
        self.state = "connecting"
        self.run_worker(self._connect(), group="connect", exit_on_error=False)

    # -- approvals -------------------------------------------------------------------------------

    async def _approve(self, request: Any) -> Any:
        from ...agent.shell import Decision

        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._approvals.add(fut)

        def done(result: str | None) -> None:
            if not fut.done():
                fut.set_result(result or "deny")

        self.push_screen(ApprovalScreen(request.display, str(request.cwd), str(request.sandbox), request.reason,
                                        request.justification, request.escalate), callback=done)
        try:
            result = await fut
        finally:
            self._approvals.discard(fut)
        if isinstance(self.screen, ApprovalScreen):  # resolved from elsewhere (quit, /clear)
            self.screen.dismiss("deny")
        decision = Decision(result) if result in {d.value for d in Decision} else Decision.DENY
        word = {"approve": "approved", "approve_for_session": "approved for this session", "deny": "denied"}
        self.transcript.add(NoteEntry(f"{word[decision.value]}: {request.display}", kind="info"))
        return decision

    # -- events ----------------------------------------------------------------------------------

    def _on_event(self, ev: AgentEvent) -> None:
        self.events.append(ev)
        t = self.transcript
        if isinstance(ev, TextDelta):
            t.stream(ev.text)
        elif isinstance(ev, TurnStarted):
            self.state = "working"
            t.add(UserEntry(ev.text))
        elif isinstance(ev, AssistantMessage):
            if t.current is not None:
                t.end_stream(ev.status, ev.text)
            elif ev.text.strip():
                entry = AssistantEntry()
                t.add(entry)
                entry.finish(ev.status, ev.text)
        elif isinstance(ev, ToolCallStarted):
            t.tool_started(ev.call_id, ev.name, ev.arguments)
        elif isinstance(ev, ToolCallFinished):
            t.tool_finished(ev.call_id, ev.ok, ev.output)
        elif isinstance(ev, CommandOutput):
            t.add(CommandEntry(ev.command, ev.exit_code, ev.output, ev.timed_out, ev.refused))
        elif isinstance(ev, DiffApplied):
            t.add(DiffEntry(ev.paths, ev.diff, ev.undo_depth))
        elif isinstance(ev, EditUndone):
            t.add(DiffEntry(ev.paths, ev.diff, ev.undo_depth, undone=True))
        elif isinstance(ev, EditRejected):
            t.add(NoteEntry("edit not applied: " + ev.message.strip()
                            + (" — asking the model to correct it" if ev.will_retry else ""), kind="note"))
        elif isinstance(ev, ContextNote):
            t.add(NoteEntry(ev.text, kind="note"))
        elif isinstance(ev, WarmedUp):
            self.warmups.append(ev)
            if ev.paths:
                t.add(NoteEntry(f"prefilled {', '.join(ev.paths)} ({ev.input_tokens} tokens, {ev.seconds:.1f}s) — "
                                "the next turn starts warm", kind="info"))
        elif isinstance(ev, Redirected):
            t.add(UserEntry(ev.text, prefix="↪ redirect: ", classes="user redirect"))
        elif isinstance(ev, TurnFinished):
            t.end_stream("cancelled" if ev.status == "interrupted" else None)
            self.finished.append(ev)
            t.add(TurnEndEntry(ev.status, ev.seconds, ev.edits, ev.tool_calls, ev.usage, ev.error))
            self.state = "idle" if ev.status != "failed" else "failed"
        elif isinstance(ev, ErrorEvent):
            self._error(ev.message)
        self._tick()

    def _error(self, message: str) -> None:
        lines = message.strip().splitlines() or ["(unknown error)"]
        # a server log tail or a traceback someone put in a message: keep its last meaningful lines only
        if len(lines) > 8:
            lines = lines[:2] + ["…"] + lines[-4:]
        self.transcript.add(ErrorEntry("\n".join(lines)))
        self._tick()

    def _replay(self, record: Any) -> None:
        """Show a resumed session's past turns (compactly) before it continues."""
        t = self.transcript
        t.add(NoteEntry(f"resumed session {record.id}", kind="info"))
        for ev in record.events:
            kind = ev.get("type")
            if kind == "turn.started":
                t.add(UserEntry(ev.get("text", "")))
            elif kind == "turn.redirected":
                t.add(UserEntry(ev.get("text", ""), prefix="↪ redirect: ", classes="user redirect"))
            elif kind == "diff.applied":
                t.add(DiffEntry(ev.get("paths", []), ev.get("diff", ""), ev.get("undo_depth", 0)))
            elif kind == "edit.undone":
                t.add(DiffEntry(ev.get("paths", []), ev.get("diff", ""), ev.get("undo_depth", 0), undone=True))
            elif kind == "assistant.message" and (ev.get("text") or "").strip():
                entry = AssistantEntry()
                t.add(entry)
                entry.finish(ev.get("status", "completed"), ev["text"])
            elif kind == "error":
                t.add(ErrorEntry(ev.get("message", "")))
        t.add(NoteEntry("(earlier edits cannot be undone from here)", kind="info"))

    # -- status ----------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """The agent is working on a turn (TurnFinished already counts as done, though its task ends just after)."""
        return self.session is not None and self.session.busy and self.state in ("working", "stopping")

    def _tick(self) -> None:
        with contextlib.suppress(Exception):
            self.transcript.flush()
        self._spin = (self._spin + 1) % len(SPINNER)
        s = self.session
        busy = self.busy
        if busy:
            state = f"{SPINNER[self._spin]} " + ("stopping" if self.state == "stopping" else "working")
        elif s is not None and self._warming:
            state = f"{SPINNER[self._spin]} warming up"
        elif s is not None:
            state = "● idle" if self.state != "failed" else "● idle (last turn failed)"
        else:
            state = f"{SPINNER[self._spin]} {self.state}" if self.connecting or self.state in (
                "starting", "connecting", "closing") else f"○ {self.state}"
        t = Text()
        t.append("codespark", style="bold")
        t.append(f" · {self.model_name or 'default model'}")
        t.append(f" · {self.options.mode}")
        kind = self.transport_kind if isinstance(self.transport_kind, str) else getattr(self.transport_kind, "kind", "?")
        t.append(f" · {('ws' if kind == 'websocket' else kind)} {self.server_url or '(no server yet)'}")
        t.append(" · ")
        t.append(state, style="bold yellow" if busy else ("green" if s is not None else "red"))
        t.append(f" · undo {s.undo_depth if s is not None else 0}")
        if self.warmups and s is not None and not busy:
            w = self.warmups[-1]
            t.append(f" · warm {w.input_tokens} tok", style="dim")
        with contextlib.suppress(Exception):
            status = self.query_one(StatusLine)
            status.show(t)
            status.set_class(busy, "busy")


def run_tui(args: Any, record: Any = None) -> int:
    """Run the terminal UI for parsed CLI `args` (tui_cmd flags; resume's args work too), optionally resuming
    `record` (a SessionRecord). Returns the exit status."""
    from ...agent.formats import DEFAULT_EDIT_FORMAT

    meta = record.meta if record is not None else {}
    workspace = Path(getattr(args, "cd", None) or meta.get("cwd") or ".").expanduser()
    if not workspace.is_dir():
        print(f"codespark: {workspace}: not a directory", file=sys.stderr)
        return 2
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("codespark: the terminal UI needs a terminal; use `codespark exec \"PROMPT\"` in scripts", file=sys.stderr)
        return 2
    try:
        options = AgentOptions(
            workspace=workspace,
            mode=getattr(args, "mode", None) or meta.get("mode") or "realtime",
            edit_format=getattr(args, "edit_format", None) or meta.get("edit_format") or DEFAULT_EDIT_FORMAT,
            model=getattr(args, "model", None) or meta.get("model"),
            sandbox=getattr(args, "sandbox", None) or "workspace-write",
            approval=getattr(args, "approval", None) or "on-request",
            record=not getattr(args, "no_record", False),
        )
    except ValueError as exc:
        print(f"codespark: {exc}", file=sys.stderr)
        return 2
    app = CodesparkApp(options, server_url=getattr(args, "server", None),
                       transport=getattr(args, "transport", None) or "websocket", record=record)
    try:
        app.run()
    except KeyboardInterrupt:
        pass
    finally:
        app.close_server()
    return int(app.return_code or 0)
