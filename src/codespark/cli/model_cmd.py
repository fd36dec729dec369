"""`codespark model list|path`: what is installed and where."""

from __future__ import annotations

import argparse
import sys

from ..models import ModelInstallError, format_model_table, list_models, resolve_model


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="model_command", required=True)
    ls = sub.add_parser("list", help="catalog entries, whether installed, and where")
    ls.set_defaults(func=_list)
    path = sub.add_parser("path", help="install (join + verify) a model if needed and print its file path")
    path.add_argument("model", nargs="?", default=None)
    path.set_defaults(func=_path)


def _list(args: argparse.Namespace) -> int:
    print(format_model_table(list_models()))
    return 0


def _path(args: argparse.Namespace) -> int:
    from ..models import DEFAULT_MODEL_ID

    try:
        print(resolve_model(args.model or DEFAULT_MODEL_ID).path)
    except ModelInstallError as exc:
        print(f"codespark: {exc}", file=sys.stderr)
        return 1
    return 0
