"""AgentSession: the UI-agnostic, event-driven core of the coding agent (TUI, `exec` and tests all drive it).

Interface (everything is async; one session = one workspace + one warm server connection):

    session = await AgentSession.open(AgentOptions(workspace=..., mode="realtime"), "http://127.0.0.1:7433",
                                      transport="websocket", approver=ask_user)   # or AgentSession.resume(...)
    session.subscribe(callback)            # callback(event) for every AgentEvent, called on the event loop
    async for event in session.events():   # ... or iterate (each call is an independent subscriber)

    task = await session.submit(text)      # start a turn; returns at once (the turn runs as `task`);
                                           # while a turn runs, submit() == redirect()
    finished = await session.run(text)     # submit + wait: the TurnFinished event
    await session.interrupt()              # Esc: cancel the response in flight on the server (stops within one
                                           # decode step), end the turn; edits are all-or-nothing, so nothing is
                                           # half-applied. Returns the TurnFinished (status "interrupted").
    await session.redirect(text)           # typing while it works: cancel the generation and continue the SAME
                                           # turn at once with `text`, chained (previous_response_id) to the
                                           # cancelled response so the server's warm KV cache is reused
    await session.warm_up(paths=None)      # generate:false with the context (when the UI opens, or when files
                                           # are mentioned) so the next turn starts immediately; a submit()
                                           # during warm-up cancels it and keeps what was already prefilled
    await session.undo()                   # /undo: revert the last applied edit (byte-exact) -> EditUndone
    session.set_mode("long") / session.set_edit_format("definitions")   # between turns
    await session.wait()                   # until the current turn (if any) ends
    await session.close()

    session.busy / session.turn / session.undo_depth / session.history / session.session_id / session.mode

Events (codespark.agent.events; `kind` string in brackets, `to_dict()` for JSON):
    TurnStarted [turn.started]          TextDelta [text.delta]            AssistantMessage [assistant.message]
    ToolCallStarted [tool.started]      ToolCallFinished [tool.finished]  CommandOutput [command.output]
    DiffApplied [diff.applied] (unified diff, undo depth)                 EditRejected [edit.rejected]
    EditUndone [edit.undone]            ContextNote [context.note]        WarmedUp [warmed_up]
    Redirected [turn.redirected]        TurnFinished [turn.finished]      ErrorEvent [error]
    ResponseDone [response.done] (per model response: tokens in/cached/out, seconds)

Approvals: `approver(ApprovalRequest) -> Decision | bool` (sync or async) is asked when the approval policy
requires it; without one such commands are denied (fail closed).

How a turn goes: the files the user mentions (and a small repository whole) are attached to the request, so
the model can answer with an edit in its first reply. Edits are taken from apply_patch calls and from plain
text (patch, SEARCH/REPLACE, a fenced whole file or Python fragment); an edit that fails goes back to the
model once (real-time) with the precise error. Real-time mode ends the turn as soon as an edit is applied and
refuses test/build commands the user did not ask for; long mode loops over tool calls until the model stops.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any, AsyncIterator, Callable

from . import context as ctx
from . import prompts
from .conversation import Conversation, call_output, dangling_calls
from .edits import EditError, EditResult
from .editor import Editor
from .events import AgentEvent, ContextNote, EditUndone, ErrorEvent, TurnFinished, WarmedUp
from .formats import EXAMPLE_BEFORE, EXAMPLE_PATH, get_format
from .modes import get_mode
from .settings import AgentOptions
from .shell import ApprovalRequest, ShellTool
from .tools import ToolBox, tool_schemas
from .transcript import SessionRecord, Transcript
from .transport import ResponsesError, Transport, make_transport
from .turn import Turn, TurnControl

Approver = Callable[[ApprovalRequest], Any]
RECORDED = {"turn.started", "turn.finished", "diff.applied", "edit.undone", "edit.rejected", "context.note",
            "command.output", "turn.redirected", "assistant.message", "error"}


class AgentSession:
    def __init__(self, options: AgentOptions, transport: Transport, *, approver: Approver | None = None,
                 record: SessionRecord | None = None):
        self.options = options
        self.mode = get_mode(options.mode)
        self.format = get_format(options.edit_format)
        self.transport = transport
        self.root = options.workspace
        self.approver = approver
        self.editor = Editor(self.root)
        self.shell = ShellTool(self.root, options.sandbox, options.approval,
                               approve=self._approve_from_thread if approver else None,
                               timeout=options.command_timeout_s, output_cap=options.command_output_cap)
        self.tools = ToolBox(self.root, self.shell, self._apply_from_tool, tests_allowed=self._tests_allowed,
                             command_timeout_s=options.command_timeout_s)
        self.context = ctx.ContextTracker(self.root, options.context_file_bytes, options.context_budget_tokens,
                                          options.small_repo_files, options.small_repo_bytes)
        self.instructions = prompts.instructions(self.mode, self.format, self.root)
        self.conversation = Conversation(transport, self.emit, self._request_shape, n_ctx=options.context_window or 32768,
                                         on_dropped=lambda paths: [self.context.forget(p) for p in paths])
        self.control = TurnControl()
        self.conversation.wants_cancel = lambda: self.control.interrupt or bool(self.control.redirects)
        self._seeded = False
        self._callbacks: list[Callable[[AgentEvent], Any]] = []
        self._queues: list[asyncio.Queue] = []
        self._turn: Turn | None = None
        self._turn_task: asyncio.Task | None = None
        self._warm_task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.turn = 0
        self.transcript: Transcript | None = None
        self.session_id: str | None = None
        if record is not None:
            conv = self.conversation
            conv.history = list(record.items)
            conv.chain_id = record.last_response_id
            conv.pending = list(record.pending)
            self.context.seen = dict(record.seen)
            self.context.first_done = True
            self._seeded = bool(conv.history)
            self.turn = sum(1 for e in record.events if e.get("type") == "turn.started")
            self.session_id = record.id
            if options.record:
                self.transcript = conv.transcript = Transcript.reopen(record)
            for call in dangling_calls(conv.history + conv.pending):
                conv.pending.append(call_output(call["call_id"], "(not run: the session ended before this call)"))

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    async def open(cls, options: AgentOptions, server_url: str, *, transport: str | Transport = "websocket",
                   approver: Approver | None = None, api_key: str | None = None,
                   record: SessionRecord | None = None) -> "AgentSession":
        t = transport if isinstance(transport, Transport) else make_transport(server_url, transport, api_key)
        session = cls(options, t, approver=approver, record=record)
        await session.start(server_url)
        return session

    @classmethod
    async def resume(cls, record: SessionRecord, server_url: str, options: AgentOptions | None = None,
                     **kwargs: Any) -> "AgentSession":
        meta = record.meta
        options = options or AgentOptions(workspace=meta.get("cwd", "."), mode=meta.get("mode", "realtime"),
                                          edit_format=meta.get("edit_format") or get_format(None).name)
        return await cls.open(options, server_url, record=record, **kwargs)

    async def start(self, server_url: str | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await self.transport.open()
        if self.options.context_window is None:
            try:
                for m in await self.transport.models():
                    if (self.options.model is None or m.get("id") == self.options.model) and m.get("context_window"):
                        self.conversation.n_ctx = int(m["context_window"])
                        break
            except Exception:  # another Responses server may not list a context window
                pass
        if self.options.record and self.transcript is None:
            self.transcript = self.conversation.transcript = Transcript.create(self.options.transcripts_dir, {
                "cwd": str(self.root), "mode": self.mode.name, "edit_format": self.format.name,
                "model": self.options.model, "server": server_url or self.transport.base_url,
                "transport": self.transport.kind,
            })
            self.session_id = self.transcript.meta["id"]

    async def close(self) -> None:
        if self.busy:
            await self.interrupt()
        await self._stop_warm_up()
        await self.transport.close()
        if self.transcript is not None:
            if self.conversation.pending:
                self.transcript.pending(self.conversation.pending)
            self.transcript.close()
        for q in self._queues:
            q.put_nowait(None)

    async def __aenter__(self) -> "AgentSession":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- events ----------------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[AgentEvent], Any]) -> Callable[[], None]:
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    async def events(self) -> AsyncIterator[AgentEvent]:
        q: asyncio.Queue = asyncio.Queue()
        self._queues.append(q)
        try:
            while True:
                ev = await q.get()
                if ev is None:
                    return
                yield ev
        finally:
            if q in self._queues:
                self._queues.remove(q)

    def emit(self, event: AgentEvent) -> None:
        for cb in list(self._callbacks):
            try:
                result = cb(event)
                if inspect.isawaitable(result):
                    asyncio.ensure_future(result)
            except Exception as exc:  # a UI bug must not kill the turn
                if not isinstance(event, ErrorEvent):
                    self.emit(ErrorEvent(f"event handler failed: {exc!r}", "ui_error"))
        for q in self._queues:
            q.put_nowait(event)
        if self.transcript is not None and event.kind in RECORDED:
            self.transcript.event(event.to_dict())

    # -- state -----------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._turn_task is not None and not self._turn_task.done()

    @property
    def undo_depth(self) -> int:
        return self.editor.depth

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.conversation.history

    @property
    def n_ctx(self) -> int:
        return self.conversation.n_ctx

    def _tests_allowed(self) -> bool:
        return self._turn.tests_allowed() if self._turn is not None else self.mode.tests_allowed

    # -- actions ---------------------------------------------------------------------------------

    async def submit(self, text: str) -> asyncio.Task:
        if self.busy:
            await self.redirect(text)
            return self._turn_task
        await self._stop_warm_up()
        self.turn += 1
        self.control = TurnControl()
        self.tools.cancel.clear()
        self._turn = Turn(self, self.turn, text)
        self._turn_task = asyncio.get_running_loop().create_task(self._turn.run())
        return self._turn_task

    async def run(self, text: str) -> TurnFinished:
        task = await self.submit(text)
        return await task

    async def wait(self) -> TurnFinished | None:
        if self._turn_task is None:
            return None
        return await asyncio.shield(self._turn_task)

    async def interrupt(self, wait: bool = True) -> TurnFinished | None:
        await self._stop_warm_up()
        if not self.busy:
            return None
        self.control.interrupt = True
        await self._cancel_inflight()
        if wait:
            return await asyncio.shield(self._turn_task)
        return None

    async def redirect(self, text: str) -> None:
        if not self.busy:
            await self.submit(text)
            return
        self.control.redirects.append(text)
        await self._cancel_inflight()

    def set_mode(self, name: str) -> None:
        """Switch between "realtime" and "long" for the next turn (not while busy)."""
        if self.busy:
            raise RuntimeError("cannot switch modes while a turn is running; interrupt it first")
        self.mode = get_mode(name)
        self.options.mode = self.mode.name
        self.instructions = prompts.instructions(self.mode, self.format, self.root)

    def set_edit_format(self, name: str) -> None:
        """Ask for another edit format from the next turn on (all formats are always accepted)."""
        if self.busy:
            raise RuntimeError("cannot switch edit formats while a turn is running; interrupt it first")
        self.format = get_format(name)
        self.options.edit_format = self.format.name
        self.instructions = prompts.instructions(self.mode, self.format, self.root)

    async def warm_up(self, paths: list[str] | None = None) -> WarmedUp | None:
        """Prefill the context (and `paths`) on the server without generating; None if there was nothing to do."""
        if self.busy or (self._warm_task is not None and not self._warm_task.done()):
            return None
        self._warm_task = asyncio.get_running_loop().create_task(self._warm(paths))
        try:
            return await asyncio.shield(self._warm_task)
        except asyncio.CancelledError:
            return None

    async def undo(self) -> EditUndone | None:
        if self.busy:
            self.emit(ErrorEvent("cannot undo while the agent is working; interrupt it first (Esc)", "busy"))
            return None
        try:
            result = await asyncio.to_thread(self.editor.undo)
        except EditError as exc:
            self.emit(ErrorEvent(f"undo failed: {exc}", "undo_failed"))
            return None
        event = EditUndone(result.paths, result.unified_diff(), self.editor.depth)
        self.emit(event)
        return event

    # -- internals -------------------------------------------------------------------------------

    async def _cancel_inflight(self) -> None:
        if self.busy:
            self.tools.cancel.set()  # a running shell command is killed too
        await self.conversation.cancel()

    async def _stop_warm_up(self) -> None:
        task = self._warm_task
        if task is not None and not task.done():
            await self.conversation.cancel()
            try:
                await asyncio.shield(task)
            except (asyncio.CancelledError, Exception):
                pass

    def seed_items(self) -> list[dict[str, Any]]:
        """The worked example of the edit format, once, at the start of the conversation."""
        if self._seeded:
            return []
        self._seeded = True
        example_files = ctx.message(ctx.CONTEXT_HEADER + "\n\n" + ctx.render_file(EXAMPLE_PATH, EXAMPLE_BEFORE))
        return self.format.example_items(example_files)

    def save_state(self) -> None:
        if self.transcript is not None:
            self.transcript.files(self.context.seen)
            if self.conversation.pending:
                self.transcript.pending(self.conversation.pending)

    def _request_shape(self, generate: bool) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "instructions": self.instructions,
            "store": self.options.store,
            "temperature": self.options.temperature,
        }
        if self.options.model:
            shape["model"] = self.options.model
        if self.options.tools:
            shape["tools"] = tool_schemas("Edit files: " + self.format.instruction.removeprefix("To change a file, ").rstrip("."))
            shape["tool_choice"] = "auto"
            shape["parallel_tool_calls"] = True
        if generate:
            shape["max_output_tokens"] = self.options.max_output_tokens or self.mode.max_output_tokens
        else:
            shape["generate"] = False
        if self.mode.priority == "background":
            shape["priority"] = "background"
        return shape

    def _apply_from_tool(self, text: str) -> EditResult:
        if self._turn is None:
            raise EditError("no turn is running")
        return self._turn.apply_from_tool(text)

    async def _warm(self, paths: list[str] | None) -> WarmedUp | None:
        t0 = time.perf_counter()
        items = self.conversation.take_pending() + self.seed_items()
        message, attached, notes = self.context.attach("", explicit=paths)
        for note in notes:
            self.emit(ContextNote(note))
        if message is not None:
            items.append(message)
        if not items:
            return None
        try:
            outcome = await self.conversation.respond(items, generate=False)
        except ResponsesError as exc:
            self.emit(ErrorEvent(f"warm-up failed: {exc.message}", exc.code))
            return None
        self.save_state()
        details = outcome.usage.get("input_tokens_details") or {}
        event = WarmedUp(attached, int(outcome.usage.get("input_tokens", 0)), int(details.get("cached_tokens", 0)),
                         round(time.perf_counter() - t0, 3))
        self.emit(event)
        return event

    def _approve_from_thread(self, request: ApprovalRequest) -> Any:
        """ShellTool calls this from its worker thread; the approver runs on the event loop."""
        assert self._loop is not None and self.approver is not None

        async def ask() -> Any:
            result = self.approver(request)
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(ask(), self._loop).result()
