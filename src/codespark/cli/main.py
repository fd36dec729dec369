"""`codespark` command: the terminal UI with no subcommand, otherwise dispatch to a subcommand."""

from __future__ import annotations

import argparse
import sys

from .. import __version__

SUBCOMMANDS = ("serve", "exec", "resume", "model", "bench")


def build_parser() -> argparse.ArgumentParser:
    from . import bench_cmd, exec_cmd, model_cmd, resume_cmd, serve

    p = argparse.ArgumentParser(
        prog="codespark",
        description="Local-first real-time coding. With no subcommand, `codespark [--server URL] [--mode realtime|long]` "
        "opens the terminal UI in the current directory.",
    )
    p.add_argument("--version", action="version", version=f"codespark {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{" + ",".join(SUBCOMMANDS) + "}")
    s = sub.add_parser("serve", help="serve the Responses API (HTTP/SSE + WebSocket) on the embedded model")
    serve.add_arguments(s)
    s.set_defaults(func=serve.run)
    e = sub.add_parser("exec", help="run the agent non-interactively on one prompt")
    exec_cmd.add_arguments(e)
    r = sub.add_parser("resume", help="resume a recorded agent session (--last or an id)")
    resume_cmd.add_arguments(r)
    m = sub.add_parser("model", help="manage the embedded models")
    model_cmd.add_arguments(m)
    b = sub.add_parser("bench", help="benchmarks, run side by side with their baselines; results under docs/benchmarks/")
    bench_cmd.add_arguments(b)
    return p


def tui_parser() -> argparse.ArgumentParser:
    from . import tui_cmd

    p = argparse.ArgumentParser(prog="codespark", description="The real-time coding agent's terminal UI (subcommands: " + ", ".join(SUBCOMMANDS) + ").")
    tui_cmd.add_arguments(p)
    p.set_defaults(func=tui_cmd.run)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    opens_ui = not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"))
    args = (tui_parser() if opens_ui else build_parser()).parse_args(argv)
    if not getattr(args, "func", None):
        build_parser().print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
