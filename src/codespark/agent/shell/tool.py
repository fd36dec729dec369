"""ShellTool: approval policy + sandbox + process runner, behind one ``run()``."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from .approval import (
    ApprovalPolicy,
    ApprovalRequest,
    ApproveCallback,
    Decision,
    PlanAction,
    coerce_decision,
    command_key,
    plan_command,
)
from .policy import is_known_safe_command
from .result import CommandResult
from .runner import run_process
from .sandbox import BwrapSupport, SandboxMode, build_bwrap_argv, probe_bwrap

__all__ = ["ShellTool", "DEFAULT_TIMEOUT_S", "DEFAULT_OUTPUT_CAP"]

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_OUTPUT_CAP = 64 * 1024

# Output that typically means the sandbox (not the command) caused the failure.
_SANDBOX_SYMPTOMS = re.compile(
    r"Read-only file system|Network is unreachable|Temporary failure in name resolution"
    r"|Could not resolve host|Name or service not known|Operation not permitted"
    r"|Connection refused|No address associated with hostname",
    re.IGNORECASE,
)


class ShellTool:
    """Runs shell commands for the agent under an approval policy and a sandbox.

    ``approve`` is called (synchronously, from the thread calling :meth:`run`)
    whenever the policy requires the user's consent. With no callback, such
    commands are denied - the tool fails closed.
    """

    def __init__(
        self,
        workspace: str | os.PathLike[str],
        sandbox_mode: SandboxMode | str = SandboxMode.WORKSPACE_WRITE,
        approval_policy: ApprovalPolicy | str = ApprovalPolicy.ON_REQUEST,
        approve: ApproveCallback | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        output_cap: int = DEFAULT_OUTPUT_CAP,
        *,
        kill_grace: float = 2.0,
        env: Mapping[str, str] | None = None,
        bwrap_path: str | None = None,
    ) -> None:
        ws = Path(workspace).resolve()
        if not ws.is_dir():
            raise ValueError(f"workspace {ws} is not a directory")
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        if output_cap < 0:
            raise ValueError("output_cap must be >= 0")
        self.workspace = ws
        self.sandbox_mode = SandboxMode(sandbox_mode)
        self.approval_policy = ApprovalPolicy(approval_policy)
        self.approve = approve
        self.timeout = float(timeout)
        self.output_cap = int(output_cap)
        self.kill_grace = float(kill_grace)
        self.env = dict(env) if env is not None else None
        self.bwrap_path = bwrap_path
        self._session_approved: set[tuple[str | tuple[str, ...], bool]] = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ helpers

    def ensure_sandbox(self) -> BwrapSupport | None:
        """Check now (e.g. at startup) that the configured sandbox can be enforced.

        Raises :class:`SandboxUnavailableError`; returns None for danger-full-access.
        """
        if not self.sandbox_mode.is_sandboxed:
            return None
        return probe_bwrap(self.bwrap_path)

    def is_approved_for_session(self, command: str | Sequence[str], *, escalate: bool = False) -> bool:
        key = command_key(command)
        with self._lock:
            # An approval to run unsandboxed also covers running it sandboxed.
            return (key, escalate) in self._session_approved or (key, True) in self._session_approved

    def _remember(self, command: str | Sequence[str], escalate: bool) -> None:
        with self._lock:
            self._session_approved.add((command_key(command), escalate))

    def _not_run(self, message: str, sandbox: SandboxMode) -> CommandResult:
        return CommandResult(
            exit_code=None,
            output=message,
            timed_out=False,
            truncated=False,
            duration_s=0.0,
            sandbox=sandbox,
            denied=True,
        )

    def _sandbox_note(self, sandbox: SandboxMode, exit_code: int, output: str) -> str:
        if not sandbox.is_sandboxed or exit_code == 0 or not _SANDBOX_SYMPTOMS.search(output):
            return ""
        where = "only the workspace and /tmp are writable" if sandbox is SandboxMode.WORKSPACE_WRITE \
            else "nothing but /tmp is writable"
        base = f"Note: this ran in the '{sandbox}' sandbox (network disabled, {where}); the failure may be caused by the sandbox."
        if self.approval_policy is ApprovalPolicy.NEVER:
            return base + " Running outside the sandbox is not possible under the 'never' approval policy."
        return base + " If so, you may retry with escalate=true to ask the user to run it outside the sandbox."

    # --------------------------------------------------------------------- run

    def run(
        self,
        command: str | Sequence[str],
        *,
        escalate: bool = False,
        timeout: float | None = None,
        justification: str | None = None,
        cancel: threading.Event | None = None,
    ) -> CommandResult:
        """Run ``command`` (a ``bash -lc`` script, or an argv list run directly).

        Returns a :class:`CommandResult`; a denied/refused command comes back with
        ``exit_code=None`` and ``denied=True`` and was never started. Raises
        :class:`SandboxUnavailableError` (before asking anyone or running
        anything) if the command would need a sandbox that cannot be enforced.
        """
        if isinstance(command, str):
            if not command.strip():
                raise ValueError("empty command")
            argv = ["bash", "-lc", command]
        else:
            argv = list(command)
            if not argv:
                raise ValueError("empty command")
        eff_timeout = self.timeout if timeout is None else float(timeout)
        if eff_timeout <= 0:
            raise ValueError("timeout must be > 0")

        plan = plan_command(
            self.approval_policy,
            self.sandbox_mode,
            escalate=escalate,
            known_safe=is_known_safe_command(command),
        )
        if plan.action is PlanAction.REFUSE:
            return self._not_run(plan.reason, plan.sandbox)

        # Fail closed before bothering the user: an approval is worthless if the
        # sandbox it is granted under cannot be built.
        support = probe_bwrap(self.bwrap_path) if plan.sandbox.is_sandboxed else None

        escalated = not plan.sandbox.is_sandboxed and self.sandbox_mode.is_sandboxed
        if plan.action is PlanAction.ASK and not self.is_approved_for_session(command, escalate=escalated):
            request = ApprovalRequest(
                command=command_key(command),
                cwd=self.workspace,
                sandbox=plan.sandbox,
                escalate=escalated,
                reason=plan.reason,
                justification=justification,
            )
            if self.approve is None:
                return self._not_run(
                    f"Approval required ({plan.reason}) but no approver is configured, so it was denied.",
                    plan.sandbox,
                )
            decision = coerce_decision(self.approve(request))
            if decision is Decision.DENY:
                return self._not_run(
                    "The user denied this command. Do not retry it as is; "
                    "ask the user or try a different approach.",
                    plan.sandbox,
                )
            if decision is Decision.APPROVE_FOR_SESSION:
                self._remember(command, escalated)

        if support is not None:
            argv = build_bwrap_argv(
                plan.sandbox, self.workspace, argv, bwrap=support.path, unshare_user=support.unshare_user
            )
        outcome = run_process(
            argv,
            cwd=self.workspace,
            timeout=eff_timeout,
            output_cap=self.output_cap,
            kill_grace=self.kill_grace,
            env=self.env,
            cancel=cancel,
        )
        return CommandResult(
            exit_code=outcome.exit_code,
            output=outcome.output,
            timed_out=outcome.timed_out,
            truncated=outcome.truncated,
            duration_s=outcome.duration_s,
            sandbox=plan.sandbox,
            note=self._sandbox_note(plan.sandbox, outcome.exit_code, outcome.output),
            cancelled=outcome.cancelled,
        )
