"""One turn: the user's words in, model responses, tools and edits, until the turn is done.

    attach context -> respond -> run tool calls -> apply an edit written as text -> decide:
      redirect pending      -> continue at once with the new words (chained to the cancelled response)
      interrupted           -> stop; tool outputs owed to the model wait for the next request
      an edit failed        -> send the precise error back (mode.edit_retries times), else report it
      no edit but one was asked for -> remind the model once
      tool outputs          -> real-time: stop if they were only applied edits; otherwise respond again
      nothing more to do    -> done
The session drives this; the UI sees it through events only.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import context as ctx
from .conversation import ResponseOutcome, call_output
from .edits import EditError, EditParseError, EditResult
from .events import (
    AssistantMessage,
    CommandOutput,
    ContextNote,
    DiffApplied,
    EditRejected,
    ErrorEvent,
    Redirected,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
    TurnStarted,
)
from .modes import asks_for_an_edit, asks_for_tests_or_build
from .text_edits import find_edits
from .tools import ToolOutcome, parse_arguments
from .transport import ResponsesError

if TYPE_CHECKING:
    from .session import AgentSession


@dataclass
class TurnControl:
    """What the user asked for while the turn runs (set by AgentSession.interrupt / redirect)."""

    interrupt: bool = False
    redirects: list[str] = field(default_factory=list)


class Turn:
    def __init__(self, session: "AgentSession", number: int, text: str):
        self.s = session
        self.number = number
        self.texts = [text]  # the user's words this turn (the first, then any redirects)
        self.attached: list[str] = []  # files attached this turn, newest first
        self.edits = self.failed_edits = self.tool_calls = self.commands = 0
        self.edited_paths: list[str] = []
        self.usage = {"input_tokens": 0, "cached_tokens": 0, "output_tokens": 0}

    # -- what the turn knows -------------------------------------------------------------------

    @property
    def control(self) -> TurnControl:
        return self.s.control

    @property
    def instruction(self) -> str:
        return " ".join(self.texts)

    def tests_allowed(self) -> bool:
        return self.s.mode.tests_allowed or any(asks_for_tests_or_build(t) for t in self.texts)

    def candidates(self) -> list[str]:
        """Files an unlabelled code block may belong to: this turn's attachments first."""
        return self.attached + [p for p in self.s.context.known() if p not in self.attached]

    def user_items(self, text: str) -> list[dict[str, Any]]:
        """Attachments (mentioned, changed, or a small repo's files) then the user's own words."""
        message, attached, notes = self.s.context.attach(text)
        self.attached = attached + [p for p in self.attached if p not in attached]
        if attached:
            self.s.emit(ContextNote("Attached " + ", ".join(attached)))
        for note in notes:
            self.s.emit(ContextNote(note))
        return ([message] if message is not None else []) + [ctx.message(text)]

    # -- edits -----------------------------------------------------------------------------------

    def apply_from_tool(self, text: str) -> EditResult:
        """apply_patch's body: any accepted format, including a fenced whole file (runs in a worker thread)."""
        found = find_edits(text, self.s.root, self.candidates(), self.instruction)
        if found is None:
            raise EditParseError(
                "no edit found in the patch: send '*** Begin Patch' ... '*** End Patch', SEARCH/REPLACE blocks, "
                "or a file path followed by a fenced block with the file's complete content"
            )
        if found.error:
            raise EditError(found.error)
        return self.s.editor.apply(found.edits)

    def diff_event(self, result: EditResult, source: str) -> DiffApplied:
        return DiffApplied(result.paths, result.unified_diff(), result.format_name, source, self.s.editor.depth)

    async def apply_text(self, text: str) -> tuple[bool | None, str | None]:
        """(None, None): the reply holds no edit; (True, None): applied; (False, message): failed."""
        found = find_edits(text, self.s.root, self.candidates(), self.instruction)
        if found is None:
            return None, None
        if found.error:
            return False, found.error
        for note in found.notes:
            self.s.emit(ContextNote(note))
        try:
            result = await asyncio.to_thread(self.s.editor.apply, found.edits)
        except EditError as exc:
            return False, str(exc)
        self.s.emit(self.diff_event(result, "text"))
        return True, None

    # -- tools -----------------------------------------------------------------------------------

    async def run_tool(self, call: dict[str, Any]) -> ToolOutcome:
        emit = self.s.emit
        name = call.get("name", "")
        raw = call.get("arguments", call.get("input", ""))
        emit(ToolCallStarted(call.get("call_id", ""), name, dict(parse_arguments(raw))))
        result = await self.s.tools.call(name, raw)
        if result.edit is not None:
            emit(self.diff_event(result.edit, "tool"))
        elif name == "apply_patch":
            emit(EditRejected(result.output, "tool", not self.control.interrupt))
        if result.command_text is not None:
            cmd = result.command
            emit(CommandOutput(result.command_text, cmd.exit_code if cmd else None, cmd.output if cmd else result.output,
                               bool(cmd and cmd.timed_out), result.refused))
        emit(ToolCallFinished(call.get("call_id", ""), name, result.ok, result.output))
        return result

    def redirect_items(self, outcome: ResponseOutcome | None) -> list[dict[str, Any]]:
        texts, self.control.redirects = self.control.redirects, []
        self.s.tools.cancel.clear()
        items = [call_output(c["call_id"], "(not run: the user redirected)") for c in (outcome.calls if outcome else [])]
        text = "\n".join(texts)
        self.texts.append(text)
        self.s.emit(Redirected(text, outcome.id if outcome is not None else None))
        return items + self.user_items(text)

    # -- the loop --------------------------------------------------------------------------------

    async def run(self) -> TurnFinished:
        s, mode, conv = self.s, self.s.mode, self.s.conversation
        t0 = time.perf_counter()
        s.emit(TurnStarted(self.number, self.texts[0], mode.name))
        status, final_text, error = "completed", "", None
        retries_left = mode.edit_retries
        nudges_left = 1  # a reply that should have edited but did not gets one reminder
        rounds = 0
        try:
            items = conv.take_pending() + s.seed_items() + self.user_items(self.texts[0])
            while True:
                rounds += 1
                if rounds > mode.max_rounds:
                    conv.pending += items
                    s.emit(ContextNote(f"Stopped after {mode.max_rounds} model responses in one turn."))
                    break
                outcome = await conv.respond(items)
                items = []
                self._count(outcome.usage)
                if outcome.text.strip():
                    final_text = outcome.text
                s.emit(AssistantMessage(outcome.text, outcome.status))
                user_cancelled = outcome.status == "cancelled" and not outcome.stopped_loop
                if self.control.redirects and outcome.status != "failed":
                    items = self.redirect_items(outcome)
                    rounds, retries_left = 0, mode.edit_retries
                    continue
                if user_cancelled or self.control.interrupt:
                    status = "interrupted"
                    conv.pending += [call_output(c["call_id"], "(not run: the user interrupted)") for c in outcome.calls]
                    break
                if outcome.status == "failed":
                    status, error = "failed", outcome.error or "the server failed to generate a response"
                    s.emit(ErrorEvent(error, "response_failed"))
                    break
                outputs, edit_error, applied_now, only_edits, text_edit = await self._act(outcome, retries_left)
                if self.control.interrupt:
                    status = "interrupted"
                    conv.pending += outputs
                    break
                if self.control.redirects:
                    items = outputs + self.redirect_items(None)
                    rounds, retries_left = 0, mode.edit_retries
                    continue
                if edit_error is not None:
                    if retries_left > 0:
                        retries_left -= 1
                        items = outputs
                        continue
                    error = f"the model's edit could not be applied: {edit_error}"
                    conv.pending += outputs
                    break
                # a turn that ran a command (which may itself have changed files) answered on purpose: no nudge
                if (not outcome.calls and text_edit is None and self.edits == 0 and self.commands == 0 and nudges_left > 0
                        and outcome.status == "completed" and asks_for_an_edit(self.instruction)):
                    nudges_left -= 1
                    s.emit(ContextNote("The model replied without changing any file; asking it for the edit."))
                    items = [ctx.message("You did not change any file. " + s.format.instruction + " Reply with the edit now.")]
                    continue
                if outputs:
                    if applied_now and only_edits and mode.finish_after_edit:
                        conv.pending += outputs  # told with the next request; no extra round now
                        break
                    items = outputs
                    continue
                break
        except asyncio.CancelledError:
            raise
        except ResponsesError as exc:
            status, error = "failed", exc.message
            s.emit(ErrorEvent(exc.message, exc.code))
        except Exception as exc:  # never leave the UI waiting on a turn that died
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            s.emit(ErrorEvent(error, "internal_error"))
        finally:
            s.save_state()
        if not final_text.strip() and self.edited_paths:
            final_text = "Edited " + ", ".join(dict.fromkeys(self.edited_paths)) + "."
        finished = TurnFinished(self.number, status, final_text, self.edits, self.failed_edits, self.tool_calls,
                                round(time.perf_counter() - t0, 3), error, self.usage)
        s.emit(finished)
        return finished

    def _count(self, usage: dict[str, Any]) -> None:
        self.usage["input_tokens"] += int(usage.get("input_tokens", 0))
        self.usage["output_tokens"] += int(usage.get("output_tokens", 0))
        self.usage["cached_tokens"] += int((usage.get("input_tokens_details") or {}).get("cached_tokens", 0))

    async def _act(self, outcome: ResponseOutcome, retries_left: int):
        """Run the response's tool calls, then apply an edit written as text (unless apply_patch was called).

        Returns (items for the model, the last edit error, whether an edit applied, whether the calls were
        only successful edits, the text edit's result: None when the text held no edit)."""
        outputs: list[dict[str, Any]] = []
        edit_error: str | None = None
        applied_now = False
        only_edits = bool(outcome.calls)
        for call in outcome.calls:
            if self.control.interrupt:
                outputs.append(call_output(call["call_id"], "(not run: the user interrupted)"))
                continue
            self.tool_calls += 1
            self.commands += call.get("name") == "shell"
            result = await self.run_tool(call)
            outputs.append(call_output(call["call_id"], result.output))
            if call.get("name") != "apply_patch":
                only_edits = False
            elif result.edit is not None:
                self.edits += 1
                applied_now = True
                self.edited_paths += result.edit.paths
            else:
                self.failed_edits += 1
                edit_error = result.output
                only_edits = False
        text_edit: bool | None = None
        if not any(c.get("name") == "apply_patch" for c in outcome.calls):
            text_edit, message = await self.apply_text(outcome.text)
            if text_edit:
                self.edits += 1
                applied_now = True
                self.edited_paths += self.s.editor.applied[-1].paths
            elif text_edit is False:
                self.failed_edits += 1
                edit_error = message
                will_retry = retries_left > 0 and not self.control.interrupt
                self.s.emit(EditRejected(message or "", "text", will_retry))
                if will_retry:
                    outputs.append(ctx.message(f"Your edit was NOT applied: {message}\nReply with a corrected edit."))
        return outputs, edit_error, applied_now, only_edits, text_edit
