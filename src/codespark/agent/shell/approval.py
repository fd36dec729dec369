"""Approval policies (when to ask the user) - modelled on the Codex CLI.

* ``untrusted``  - commands on the known-safe read-only allowlist run without
  asking; everything else asks first.
* ``on-request`` - everything runs in the sandbox without asking; the model may
  request escalation (run *outside* the sandbox), which asks first.
* ``never``      - never asks; everything runs in the sandbox; an escalation
  request is refused.

Difference from Codex: an approval never silently widens the sandbox. A command
approved under ``untrusted`` still runs inside the configured sandbox; only an
approved *escalation* request runs unsandboxed. The sandbox mode is the user's
boundary and escalation is the one explicit, always-asked way out of it.
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .sandbox import SandboxMode

__all__ = [
    "ApprovalPolicy",
    "ApprovalRequest",
    "ApproveCallback",
    "Decision",
    "Plan",
    "PlanAction",
    "plan_command",
]


class ApprovalPolicy(str, enum.Enum):
    UNTRUSTED = "untrusted"
    ON_REQUEST = "on-request"
    NEVER = "never"

    def __str__(self) -> str:
        return self.value


class Decision(str, enum.Enum):
    APPROVE = "approve"
    APPROVE_FOR_SESSION = "approve_for_session"  # remember this exact command
    DENY = "deny"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ApprovalRequest:
    """What the approve callback (TUI prompt / exec mode) is asked about."""

    command: str | tuple[str, ...]
    cwd: Path
    # The sandbox the command will run in if approved (danger-full-access when
    # the request is an escalation).
    sandbox: SandboxMode
    escalate: bool
    reason: str
    justification: str | None = None  # the model's own words, if it gave any

    @property
    def display(self) -> str:
        """The command as one shell-quoted line, for showing to a human."""
        if isinstance(self.command, str):
            return self.command
        return shlex.join(self.command)


ApproveCallback = Callable[[ApprovalRequest], "Decision | str | bool"]


class PlanAction(enum.Enum):
    RUN = "run"
    ASK = "ask"
    REFUSE = "refuse"


@dataclass(frozen=True)
class Plan:
    action: PlanAction
    sandbox: SandboxMode  # where it runs if it runs
    reason: str


def plan_command(
    policy: ApprovalPolicy,
    sandbox_mode: SandboxMode,
    *,
    escalate: bool,
    known_safe: bool,
) -> Plan:
    """Decide whether a command runs, needs approval, or is refused (pure logic)."""
    policy = ApprovalPolicy(policy)
    sandbox_mode = SandboxMode(sandbox_mode)
    if not sandbox_mode.is_sandboxed:
        escalate = False  # nothing to escape from
    target = SandboxMode.DANGER_FULL_ACCESS if escalate else sandbox_mode

    if policy is ApprovalPolicy.NEVER:
        if escalate:
            return Plan(
                PlanAction.REFUSE,
                sandbox_mode,
                f"Escalation refused: the approval policy is 'never', so commands can only "
                f"run inside the '{sandbox_mode}' sandbox and nobody can approve running "
                f"outside it. Retry without escalation, or find another way.",
            )
        return Plan(PlanAction.RUN, target, "approval policy 'never': runs in the sandbox")

    if policy is ApprovalPolicy.ON_REQUEST:
        if escalate:
            return Plan(
                PlanAction.ASK, target, f"requests to run outside the '{sandbox_mode}' sandbox"
            )
        return Plan(PlanAction.RUN, target, "approval policy 'on-request': runs in the sandbox")

    # UNTRUSTED
    if known_safe and not escalate:
        return Plan(PlanAction.RUN, target, "known-safe read-only command")
    if escalate:
        return Plan(PlanAction.ASK, target, f"requests to run outside the '{sandbox_mode}' sandbox")
    return Plan(
        PlanAction.ASK,
        target,
        "approval policy 'untrusted': command is not on the known-safe read-only list",
    )


def coerce_decision(value: object) -> Decision:
    """Accept a Decision, its string value, or a bool; anything else is a denial."""
    if isinstance(value, Decision):
        return value
    if isinstance(value, bool):
        return Decision.APPROVE if value else Decision.DENY
    if isinstance(value, str):
        try:
            return Decision(value.strip().lower().replace("-", "_"))
        except ValueError:
            return Decision.DENY
    return Decision.DENY  # fail closed on anything unexpected (e.g. None)


def command_key(command: str | Sequence[str]) -> str | tuple[str, ...]:
    """The exact identity used to remember session approvals (no normalisation)."""
    return command if isinstance(command, str) else tuple(command)
