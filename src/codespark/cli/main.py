"""`codespark` command: dispatch to subcommands."""

from __future__ import annotations

import argparse
import sys

from .. import __version__


def build_parser() -> argparse.ArgumentParser:
    from . import model_cmd, serve

    p = argparse.ArgumentParser(prog="codespark", description="Local-first real-time coding: server, agent, benchmarks.")
    p.add_argument("--version", action="version", version=f"codespark {__version__}")
    sub = p.add_subparsers(dest="command")
    s = sub.add_parser("serve", help="serve the Responses API (HTTP/SSE + WebSocket) on the embedded model")
    serve.add_arguments(s)
    s.set_defaults(func=serve.run)
    m = sub.add_parser("model", help="manage the embedded models")
    model_cmd.add_arguments(m)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
