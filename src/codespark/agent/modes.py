"""Real-time and long-running modes: what each may do, how long a turn may go on, how it is scheduled.

Real-time (default): minimal targeted edits, finishes as soon as an edit is applied, never runs tests or
builds unless the user's own words ask for it (enforced by the shell tool, not only the prompt).
Long: may plan, run tests and iterate for many rounds; its requests ask the server for background priority
so an interactive turn on the same server overtakes it between decode steps.

Not here yet: background sub-agents and fan-out to several models (a long turn runs in the foreground loop).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Mode:
    name: str
    max_rounds: int  # model responses per turn (tool round trips + retries)
    edit_retries: int  # how many times a failed edit is sent back for a corrected one
    finish_after_edit: bool  # end the turn once an edit applied (no extra round to "confirm")
    tests_allowed: bool  # may run test/build commands without being asked
    max_output_tokens: int
    priority: str  # "realtime" | "background" (sent as the request's `priority`)


REALTIME = Mode("realtime", max_rounds=6, edit_retries=1, finish_after_edit=True, tests_allowed=False,
                max_output_tokens=2048, priority="realtime")
LONG = Mode("long", max_rounds=30, edit_retries=3, finish_after_edit=False, tests_allowed=True,
            max_output_tokens=4096, priority="background")
MODES = {"realtime": REALTIME, "long": LONG}


def get_mode(name: str | None) -> Mode:
    key = (name or "realtime").lower()
    if key not in MODES:
        raise ValueError(f"unknown mode {name!r}; choose realtime or long")
    return MODES[key]


_ASKS = re.compile(
    r"\b(run|rerun|re-run|execute|launch|start|invoke)\b[^.\n]{0,40}?\b(tests?|test suite|specs?|pytest|unittest|"
    r"build|compile|make|lint(er)?|tox|checks?)\b"
    r"|\b(pytest|tox|npm (run )?test|cargo (test|build)|go test|mvn|gradle|tsc)\b"
    r"|\b(build|compile) (it|the project|the code|everything)\b"
    r"|\bmake sure (the )?tests? pass",
    re.IGNORECASE,
)


_EDIT_VERB = re.compile(
    r"\b(fix|rename|add|change|remove|delete|replace|make|update|implement|refactor|move|create|write|give|"
    r"set|use|convert|rewrite|insert|append|swap|drop|edit|correct|handle|return|raise|support)\b",
    re.IGNORECASE,
)
_QUESTION = re.compile(r"^\s*(what|why|how|where|when|which|who|does|do|is|are|can|could|should|explain|describe|tell|show)\b",
                       re.IGNORECASE)


def asks_for_an_edit(text: str) -> bool:
    """Does the user's instruction ask to change code (rather than ask a question)?"""
    text = (text or "").strip()
    if not text or _QUESTION.match(text) or (text.endswith("?") and not _EDIT_VERB.match(text)):
        return False
    return bool(_EDIT_VERB.search(text))


def asks_for_tests_or_build(text: str) -> bool:
    """Does the user's own instruction ask to run tests or a build? ("run the tests", "pytest", "build it")"""
    return bool(_ASKS.search(text or ""))
