"""Approval policies against real commands (and a real sandbox where one is used)."""

from __future__ import annotations

import shutil

import pytest

from codespark.agent.shell import (
    ApprovalPolicy,
    ApprovalRequest,
    Decision,
    SandboxMode,
    ShellTool,
)
from codespark.agent.shell.approval import PlanAction, plan_command

requires_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap not installed (apt-get install bubblewrap)"
)


class Approver:
    """Records every request and answers from a script of decisions."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[ApprovalRequest] = []

    def __call__(self, request: ApprovalRequest):
        self.requests.append(request)
        if not self.answers:
            raise AssertionError(f"unexpected approval request: {request}")
        return self.answers.pop(0)


# --------------------------------------------------------------- untrusted


@requires_bwrap
def test_untrusted_safe_command_runs_without_asking(tmp_path):
    (tmp_path / "a.txt").write_text("alpha\n")
    approver = Approver()  # any call fails the test
    tool = ShellTool(tmp_path, "workspace-write", "untrusted", approver)
    for cmd in ("ls", "cat a.txt", "grep -n alpha a.txt | wc -l", "pwd && head -1 a.txt"):
        r = tool.run(cmd)
        assert r.exit_code == 0, (cmd, r.output)
    assert approver.requests == []


@requires_bwrap
def test_untrusted_denial_does_not_run(tmp_path):
    approver = Approver(Decision.DENY)
    tool = ShellTool(tmp_path, "workspace-write", "untrusted", approver)
    r = tool.run("touch marker", justification="need a marker")
    assert not (tmp_path / "marker").exists()
    assert r.denied and r.exit_code is None and not r.ran
    text = r.to_model_text()
    assert "NOT run" in text and "denied" in text
    [req] = approver.requests
    assert req.command == "touch marker" and req.display == "touch marker"
    assert req.cwd == tmp_path.resolve()
    assert req.escalate is False and req.sandbox is SandboxMode.WORKSPACE_WRITE
    assert req.justification == "need a marker"
    assert "untrusted" in req.reason


@requires_bwrap
def test_untrusted_approval_runs_inside_the_sandbox(tmp_path):
    approver = Approver(Decision.APPROVE)
    tool = ShellTool(tmp_path, "workspace-write", "untrusted", approver)
    r = tool.run("touch marker && touch /etc/codespark-should-fail")
    assert (tmp_path / "marker").exists()
    assert r.sandbox is SandboxMode.WORKSPACE_WRITE
    assert r.exit_code != 0 and "Read-only file system" in r.output


@requires_bwrap
def test_approve_once_asks_every_time(tmp_path):
    approver = Approver(Decision.APPROVE, Decision.APPROVE)
    tool = ShellTool(tmp_path, "workspace-write", "untrusted", approver)
    tool.run("touch one")
    tool.run("touch one")
    assert len(approver.requests) == 2
    assert not tool.is_approved_for_session("touch one")


@requires_bwrap
def test_approve_for_session_remembers_exact_command(tmp_path):
    approver = Approver(Decision.APPROVE_FOR_SESSION, Decision.DENY)
    tool = ShellTool(tmp_path, "workspace-write", "untrusted", approver)
    assert tool.run("touch marker").exit_code == 0
    (tmp_path / "marker").unlink()
    assert tool.run("touch marker").exit_code == 0  # not asked again
    assert (tmp_path / "marker").exists()
    assert len(approver.requests) == 1
    assert tool.is_approved_for_session("touch marker")

    # Anything else - even trivially different - is asked again (and here denied).
    r = tool.run("touch  marker2")
    assert r.denied and not (tmp_path / "marker2").exists()
    assert len(approver.requests) == 2


def test_no_approver_means_denied(tmp_path):
    tool = ShellTool(tmp_path, "danger-full-access", "untrusted")
    r = tool.run("touch marker")
    assert r.denied and not (tmp_path / "marker").exists()
    assert "no approver" in r.output


@pytest.mark.parametrize("answer,runs", [(True, True), (False, False), ("approve", True),
                                         ("deny", False), ("nonsense", False), (None, False)])
def test_callback_answers_are_coerced_fail_closed(tmp_path, answer, runs):
    tool = ShellTool(tmp_path, "danger-full-access", "untrusted", lambda req: answer)
    tool.run("touch marker")
    assert (tmp_path / "marker").exists() is runs


# -------------------------------------------------------------- on-request


@requires_bwrap
def test_on_request_runs_in_sandbox_without_asking(tmp_path):
    approver = Approver()
    tool = ShellTool(tmp_path, "workspace-write", "on-request", approver)
    r = tool.run("touch marker")
    assert r.exit_code == 0 and (tmp_path / "marker").exists()
    assert r.sandbox is SandboxMode.WORKSPACE_WRITE
    assert approver.requests == []


def test_on_request_escalation_asks_and_runs_outside_sandbox(tmp_path):
    # read-only sandbox: the write can only succeed if it really ran unsandboxed.
    approver = Approver(Decision.APPROVE)
    tool = ShellTool(tmp_path, "read-only", "on-request", approver)
    r = tool.run("touch marker", escalate=True, justification="need to write")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "marker").exists()
    assert r.sandbox is SandboxMode.DANGER_FULL_ACCESS
    [req] = approver.requests
    assert req.escalate and req.sandbox is SandboxMode.DANGER_FULL_ACCESS
    assert "outside" in req.reason and req.justification == "need to write"


def test_on_request_denied_escalation_does_not_run(tmp_path):
    approver = Approver(Decision.DENY)
    tool = ShellTool(tmp_path, "workspace-write", "on-request", approver)
    r = tool.run("touch marker", escalate=True)
    assert r.denied and not (tmp_path / "marker").exists()
    assert len(approver.requests) == 1


@requires_bwrap
def test_session_approval_of_escalation_is_per_mode(tmp_path):
    approver = Approver(Decision.APPROVE_FOR_SESSION)
    tool = ShellTool(tmp_path, "workspace-write", "on-request", approver)
    assert tool.run("touch marker", escalate=True).sandbox is SandboxMode.DANGER_FULL_ACCESS
    assert tool.run("touch marker", escalate=True).exit_code == 0  # remembered
    assert len(approver.requests) == 1


def test_escalation_is_a_noop_without_a_sandbox(tmp_path):
    approver = Approver()
    tool = ShellTool(tmp_path, "danger-full-access", "on-request", approver)
    r = tool.run("touch marker", escalate=True)
    assert r.exit_code == 0 and approver.requests == []


# -------------------------------------------------------------------- never


@requires_bwrap
def test_never_never_asks_and_refuses_escalation(tmp_path):
    approver = Approver()
    tool = ShellTool(tmp_path, "workspace-write", "never", approver)
    r = tool.run("touch inside")
    assert r.exit_code == 0 and (tmp_path / "inside").exists()

    r = tool.run("touch escalated", escalate=True)
    assert r.denied and r.exit_code is None
    assert not (tmp_path / "escalated").exists()
    assert "never" in r.to_model_text()
    assert approver.requests == []


@requires_bwrap
def test_sandbox_failure_hint_mentions_escalation(tmp_path):
    on_request = ShellTool(tmp_path, "read-only", "on-request")
    r = on_request.run("touch x")
    assert "escalate" in r.to_model_text()
    never = ShellTool(tmp_path, "read-only", "never")
    assert "not possible" in never.run("touch x").to_model_text()


# ---------------------------------------------------------- pure planning


@pytest.mark.parametrize(
    "policy,mode,escalate,safe,action,sandbox",
    [
        ("untrusted", "workspace-write", False, True, PlanAction.RUN, "workspace-write"),
        ("untrusted", "workspace-write", False, False, PlanAction.ASK, "workspace-write"),
        ("untrusted", "read-only", True, True, PlanAction.ASK, "danger-full-access"),
        ("on-request", "read-only", False, False, PlanAction.RUN, "read-only"),
        ("on-request", "read-only", True, False, PlanAction.ASK, "danger-full-access"),
        ("on-request", "danger-full-access", True, False, PlanAction.RUN, "danger-full-access"),
        ("never", "workspace-write", False, False, PlanAction.RUN, "workspace-write"),
        ("never", "workspace-write", True, False, PlanAction.REFUSE, "workspace-write"),
        ("never", "danger-full-access", True, False, PlanAction.RUN, "danger-full-access"),
    ],
)
def test_plan_matrix(policy, mode, escalate, safe, action, sandbox):
    plan = plan_command(ApprovalPolicy(policy), SandboxMode(mode), escalate=escalate, known_safe=safe)
    assert plan.action is action and plan.sandbox is SandboxMode(sandbox)
