"""`codespark` with no subcommand: the terminal UI in the current directory.

It reuses a server on the default port, or starts the embedded one (or talks to `--server URL`), over one
persistent WebSocket (the Responses WebSocket transport) with one warm session.
"""

from __future__ import annotations

import argparse

from ..agent.modes import MODES
from ..agent.shell import ApprovalPolicy, SandboxMode


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", metavar="URL", default=None,
                   help="a running Responses server (default: reuse one on the default port, else start the embedded one)")
    p.add_argument("--mode", choices=sorted(MODES), default="realtime",
                   help="realtime (default): minimal edits, no tests unless asked; long: plans, runs tests, iterates")
    p.add_argument("--cd", "-C", metavar="DIR", default=None, help="workspace directory (default: the current one)")
    p.add_argument("--model", default=None, help="model id on the server (default: the server's default)")
    p.add_argument("--sandbox", choices=[m.value for m in SandboxMode], default=SandboxMode.WORKSPACE_WRITE.value,
                   help="where shell commands run (default workspace-write)")
    p.add_argument("--approval", choices=[a.value for a in ApprovalPolicy], default=ApprovalPolicy.ON_REQUEST.value,
                   help="when to ask before running a command (default on-request: only to leave the sandbox)")
    p.add_argument("--transport", choices=["websocket", "http"], default="websocket",
                   help="WebSocket (default: one warm connection) or stateless HTTP/SSE")
    p.add_argument("--no-record", action="store_true", help="do not write a session transcript")


def run(args: argparse.Namespace) -> int:
    from .tui import run_tui

    return run_tui(args)


def main(argv: list[str] | None = None) -> int:
    """`python -m codespark.cli.tui_cmd ...` (the same as `codespark ...` once wired)."""
    parser = argparse.ArgumentParser(prog="codespark", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    import sys

    sys.exit(main())
