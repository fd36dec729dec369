"""Polling helpers for Textual pilot tests: wait for a condition (never for a fixed time)."""

from __future__ import annotations

import time


async def wait_until(pilot, cond, *, timeout: float = 60, what: str = "condition", step: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            app = pilot.app
            try:
                shown = app.transcript.plain_text()
            except Exception:
                shown = "(no transcript)"
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; transcript:\n{shown}\n"
                                 f"events: {[e.kind for e in getattr(app, 'events', [])]}")
        await pilot.pause(step)


async def type_text(pilot, text: str) -> None:
    """Type into the focused prompt (space and punctuation as their key names)."""
    names = {" ": "space", "/": "slash", ".": "full_stop", ",": "comma", "'": "apostrophe", '"': "quotation_mark",
             "-": "minus", "_": "underscore", ":": "colon", "(": "left_parenthesis", ")": "right_parenthesis"}
    await pilot.press(*[names.get(ch, ch) for ch in text])
