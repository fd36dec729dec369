"""The agent's shell-command tool: sandbox modes + approval policies (Codex-style).

Typical use::

    tool = ShellTool(workspace, SandboxMode.WORKSPACE_WRITE, ApprovalPolicy.ON_REQUEST,
                     approve=my_prompt)
    result = tool.run("ls -la")
    model_sees = result.to_model_text()
"""

from .approval import ApprovalPolicy, ApprovalRequest, Decision
from .policy import is_known_safe_command, is_test_or_build_command
from .result import CommandResult
from .sandbox import SandboxMode, SandboxUnavailableError
from .tool import ShellTool

__all__ = [
    "ApprovalPolicy",
    "ApprovalRequest",
    "CommandResult",
    "Decision",
    "SandboxMode",
    "SandboxUnavailableError",
    "ShellTool",
    "is_known_safe_command",
    "is_test_or_build_command",
]
