"""`codespark bench ...`: benchmarks that talk to a server over its public API.

Wired into `codespark` by main.py as `bench_cmd.add_arguments(sub.add_parser("bench", ...))`; also runnable
on its own: `python -m codespark.cli.bench_cmd latency --quick`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="bench_command", required=True)
    lat = sub.add_parser(
        "latency",
        help="WebSocket vs stateless HTTP/SSE: round-trip and per-token overhead, cold/warm TTFT, agent rollout",
        description="Measure WebSocket against stateless HTTP/SSE on the same server in one run and write "
                    "latency.json, latency.md and latency.png.",
    )
    lat.add_argument("--server", metavar="URL", default=None,
                     help="use a running server (e.g. http://127.0.0.1:7433); default: start `codespark serve` on a free port")
    lat.add_argument("--model", default=None, metavar="ID|PATH",
                     help="model to request (and to serve, when the benchmark starts the server); default: the server's default")
    lat.add_argument("--quick", action="store_true", help="a small run (about a minute) for CI smoke tests")
    lat.add_argument("--out", type=Path, default=Path("docs/benchmarks"), metavar="DIR",
                     help="where to write latency.json/.md/.png (default docs/benchmarks)")
    lat.add_argument("--api-key", default=None, help="bearer key for a server started with --api-key (or CODESPARK_API_KEY)")
    lat.add_argument("--note", default="", help="free text recorded in the JSON's machine info (e.g. what else was running)")
    lat.set_defaults(func=run_latency)
    # The other benchmarks keep their own argument parsers; forward the rest of the command line to them.
    for name, module, help_text in (
        ("edit", "edit_throughput", "whole-file edit throughput: speculative edits vs plain decoding vs llama.cpp peers"),
        ("scheduling", "scheduling", "warm TTFT, real-time TTFT under background load, cancel latency"),
        ("agent", "agent", "the agent's edit-task suite: success rate, time and malformed edits per edit format"),
    ):
        sp = sub.add_parser(name, help=help_text, add_help=False, prefix_chars="\0")
        sp.add_argument("rest", nargs=argparse.REMAINDER)
        sp.set_defaults(func=_forward(module))


def _forward(module: str):
    def run(args: argparse.Namespace) -> int:
        import importlib

        return int(importlib.import_module(f"codespark.bench.{module}").main(args.rest) or 0)

    return run


def run_latency(args: argparse.Namespace) -> int:
    from ..bench.latency import BenchError, Options, run, table_rows, HEADERS
    from ..bench.report import markdown_table

    opts = Options(server=args.server, model=args.model, quick=args.quick, out=args.out,
                   api_key=getattr(args, "api_key", None), note=getattr(args, "note", "") or "")
    try:
        result = run(opts)
    except BenchError as exc:
        print(f"codespark bench latency: {exc}", file=sys.stderr)
        return 1
    print(markdown_table(HEADERS, table_rows(result["summary"])))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="codespark bench", description="codespark benchmarks")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
