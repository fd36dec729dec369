"""Command classification: the known-safe read-only allowlist (used by the
``untrusted`` approval policy) and :func:`is_test_or_build_command`.

Both work on a shell script string (what we hand to ``bash -lc``) or an argv list.
The safe-command check is deliberately conservative: anything it cannot fully
understand (redirections, substitutions, subshells, globs in odd places...) is
"not known safe" and therefore needs approval.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence

__all__ = ["is_known_safe_command", "is_test_or_build_command", "script_of"]

_SHELLS = {"bash", "sh", "zsh", "dash"}
_OPERATORS = {"|", "||", "&&", ";"}
_ENV_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def script_of(command: str | Sequence[str]) -> str | list[str]:
    """Unwrap ``["bash", "-lc", script]`` to ``script``; otherwise return as is."""
    if isinstance(command, str):
        return command
    argv = list(command)
    if (
        len(argv) == 3
        and os.path.basename(argv[0]) in _SHELLS
        and argv[1] in {"-c", "-lc", "-cl"}
    ):
        return argv[2]
    return argv


# --------------------------------------------------------------------------- parsing


def _has_unanalysable_syntax(script: str) -> bool:
    """True if ``script`` uses shell features we refuse to reason about.

    Rejected outside single quotes: ``$`` and backticks (expansion/substitution).
    Rejected unquoted: redirections ``<>``, subshells/groups ``(){}``, comments
    ``#`` (shlex and bash disagree on them), newlines, and a lone ``&``.
    """
    quote: str | None = None
    i, n = 0, len(script)
    while i < n:
        c = script[i]
        if quote == "'":
            if c == "'":
                quote = None
        elif quote == '"':
            if c == "\\":
                i += 1
            elif c == '"':
                quote = None
            elif c in "`$":
                return True
        else:
            if c == "\\":
                i += 1
            elif c in "'\"":
                quote = c
            elif c in "`$<>(){}#\n\r":
                return True
            elif c == "&":
                if script[i + 1 : i + 2] == "&":
                    i += 1  # "&&" is fine
                else:
                    return True  # background job or "|&"
        i += 1
    return quote is not None


def _tokens(script: str) -> list[str] | None:
    lexer = shlex.shlex(script, posix=True, punctuation_chars="|&;")
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes
        return None


def _split_commands(tokens: list[str]) -> list[list[str]] | None:
    """Split tokens on ``| || && ;``. None if an operator is unknown or dangling."""
    commands: list[list[str]] = [[]]
    for tok in tokens:
        if tok and set(tok) <= set("|&;"):
            if tok not in _OPERATORS or not commands[-1]:
                return None
            commands.append([])
        else:
            commands[-1].append(tok)
    if not commands[-1]:
        # Only a trailing ";" may leave an empty last command ("ls;").
        if len(commands) > 1 and tokens[-1] == ";":
            commands.pop()
        else:
            return None
    return commands


def _strict_commands(command: str | Sequence[str]) -> list[list[str]] | None:
    script = script_of(command)
    if isinstance(script, list):
        return [script] if script else None
    if _has_unanalysable_syntax(script):
        return None
    tokens = _tokens(script)
    if not tokens:
        return None
    return _split_commands(tokens)


def _loose_commands(command: str | Sequence[str]) -> list[list[str]]:
    """Best-effort split for heuristics (never used to grant permissions)."""
    script = script_of(command)
    if isinstance(script, list):
        return [script]
    lexer = shlex.shlex(script.replace("\n", ";"), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        tokens = list(lexer)
    except ValueError:
        tokens = script.split()
    commands: list[list[str]] = [[]]
    skip_next = False
    for tok in tokens:
        if skip_next:
            skip_next = False
            continue
        if tok and set(tok) <= set("();<>|&"):
            if "<" in tok or ">" in tok:
                skip_next = True  # drop the redirection target
                continue
            commands.append([])
        else:
            commands[-1].append(tok)
    return [c for c in commands if c]


# ------------------------------------------------------------------ known-safe list

# Programs that only read and print, whatever their (non-redirected) arguments.
_ALWAYS_SAFE = {
    "basename", "cat", "cd", "cmp", "diff", "dirname", "du", "echo", "egrep", "false",
    "fgrep", "grep", "head", "id", "ls", "nl", "pwd", "readlink", "realpath", "stat",
    "tail", "true", "uname", "wc", "which", "whoami",
}  # fmt: skip

# find options that execute programs or write/delete files.
_FIND_UNSAFE = {
    "-exec", "-execdir", "-ok", "-okdir", "-delete",
    "-fls", "-fprint", "-fprint0", "-fprintf",
}  # fmt: skip

_GIT_READ_SUBCOMMANDS = {"status", "diff", "log", "show"}
_GIT_BRANCH_LIST_FLAGS = {
    "-a", "--all", "-r", "--remotes", "-v", "-vv", "--verbose", "--list",
    "--show-current", "--no-color", "--color",
}  # fmt: skip
_SED_PRINT = re.compile(r"^\d+(,\d+)?p$")


def _is_safe_argv(argv: list[str]) -> bool:
    prog = argv[0]
    args = argv[1:]
    if prog in _ALWAYS_SAFE:
        return True
    if prog == "find":
        return not any(a in _FIND_UNSAFE for a in args)
    if prog == "rg":
        for a in args:
            # --pre runs an arbitrary preprocessor; -z/--search-zip runs decompressors.
            if a.startswith(("--pre", "--hostname-bin", "--search-zip")):
                return False
            if a.startswith("-") and not a.startswith("--") and "z" in a:
                return False
        return True
    if prog == "git":
        if not args:
            return False
        sub, rest = args[0], args[1:]  # global options like -c/-C before sub: not safe
        if sub in _GIT_READ_SUBCOMMANDS:
            # --output writes a file; external diff/textconv drivers run programs.
            return not any(
                a.startswith(("--output", "--ext-diff", "--textconv")) for a in rest
            )
        if sub == "branch":
            return all(a in _GIT_BRANCH_LIST_FLAGS for a in rest)
        return False
    if prog == "sed":
        # Only the `sed -n 10,20p file...` idiom; sed scripts can write files (w cmd).
        return len(args) >= 2 and args[0] == "-n" and bool(_SED_PRINT.match(args[1]))
    return False


def is_known_safe_command(command: str | Sequence[str]) -> bool:
    """True if every command in ``command`` is on the read-only allowlist.

    Sequences joined by ``| || && ;`` are accepted when each part is safe.
    Program names must be bare (``/bin/rm`` or ``./ls`` are never "safe").
    """
    commands = _strict_commands(command)
    if not commands:
        return False
    for argv in commands:
        if _ENV_ASSIGN.match(argv[0]):  # `PAGER=x git log` can run programs
            return False
        if not _is_safe_argv(argv):
            return False
    return True


# --------------------------------------------------------------- tests and builds

# Programs that are themselves test runners, build tools or compilers.
_TEST_BUILD_PROGRAMS = {
    # Python
    "pytest", "py.test", "tox", "nox", "nosetests", "trial", "behave", "hypothesis",
    # JS/TS
    "jest", "vitest", "mocha", "ava", "karma", "jasmine", "playwright", "cypress",
    "tsc", "webpack", "rollup", "parcel", "turbo", "nx", "lerna",
    # Ruby / PHP / Elixir / JVM / .NET
    "rspec", "phpunit", "pest", "rake", "mvn", "mvnw", "gradle", "gradlew",
    "ant", "sbt", "lein", "msbuild", "xcodebuild", "javac", "kotlinc", "scalac",
    # C/C++/native build systems and compilers
    "make", "gmake", "cmake", "ctest", "ninja", "meson", "scons", "bazel", "bazelisk",
    "buck", "buck2", "pants", "configure", "gcc", "g++", "cc", "c++", "clang", "clang++",
    "rustc",
}  # fmt: skip

# Programs whose *subcommand* decides (e.g. `cargo test` yes, `cargo fmt` no).
_TEST_BUILD_SUBCOMMANDS = {
    "cargo": {"build", "b", "test", "t", "bench", "check", "c", "clippy", "nextest", "doc"},
    "go": {"test", "build", "vet", "install"},
    "dotnet": {"build", "test", "msbuild", "publish", "pack"},
    "swift": {"build", "test"},
    "deno": {"test", "bench", "compile"},
    "zig": {"build", "test"},
    "stack": {"build", "test", "bench"},
    "cabal": {"build", "test", "bench", "v2-build", "v2-test"},
    "dune": {"build", "test", "runtest"},
    "mix": {"test", "compile"},
    "vite": {"build"},
    "hatch": {"build", "test"},
    "poetry": {"build"},
    "uv": {"build"},
    "pdm": {"build"},
    "flit": {"build"},
}
_JS_PACKAGE_MANAGERS = {"npm", "pnpm", "yarn", "bun"}
_SCRIPT_NAME = re.compile(r"^(test|build|compile|e2e|ci|check|bench)([:_-].*)?$|.*:test$")
_PY_TEST_BUILD_MODULES = {"pytest", "unittest", "tox", "nox", "build", "nose", "compileall"}
_SETUP_PY_BUILD = {"test", "build", "build_ext", "build_py", "bdist_wheel", "sdist", "develop"}
_TEST_SCRIPT = re.compile(r"(^|[/_-])(run)?tests?([_.-]|$)|^runtests")

# Wrappers that run the rest of the argv as a command: (name, tokens to skip).
_WRAPPERS = {"sudo", "time", "nice", "nohup", "command", "exec", "env", "xvfb-run", "stdbuf"}
_RUNNERS = {  # `X run <cmd>` style environment runners
    "uv": "run", "poetry": "run", "pipenv": "run", "pdm": "run", "rye": "run",
    "hatch": "run", "pixi": "run", "bundle": "exec", "pnpm": "exec", "conda": "run",
}  # fmt: skip
_EXECUTORS = {"npx", "pnpx", "bunx"}


def _strip_wrappers(argv: list[str]) -> list[str]:
    """Drop env assignments, wrappers (sudo/time/env/timeout...) and runners (uv run...)."""
    i = 0
    while i < len(argv):
        tok = argv[i]
        name = os.path.basename(tok)
        if _ENV_ASSIGN.match(tok):
            i += 1
        elif name in _WRAPPERS:
            i += 1
            while i < len(argv) and (argv[i].startswith("-") or _ENV_ASSIGN.match(argv[i])):
                i += 1
        elif name == "timeout":
            i += 1
            while i < len(argv) and argv[i].startswith("-"):
                i += 1
            i += 1  # the duration
        elif name in _EXECUTORS or (name == "yarn" and argv[i + 1 : i + 2] == ["dlx"]):
            i += 2 if name == "yarn" else 1
            while i < len(argv) and argv[i].startswith("-"):
                i += 1
        elif name in _RUNNERS and argv[i + 1 : i + 2] == [_RUNNERS[name]]:
            i += 2
            while i < len(argv) and argv[i].startswith("-"):
                i += 1
        else:
            break
    return argv[i:]


def _argv_is_test_or_build(argv: list[str]) -> bool:
    argv = _strip_wrappers(argv)
    if not argv:
        return False
    prog = os.path.basename(argv[0])
    args = argv[1:]
    if prog in _TEST_BUILD_PROGRAMS:
        return True
    if re.fullmatch(r"python[0-9.]*|py|pypy[0-9.]*", prog):
        if "-m" in args:
            idx = args.index("-m")
            module = args[idx + 1] if idx + 1 < len(args) else ""
            return module.split(".")[0] in _PY_TEST_BUILD_MODULES
        script = next((a for a in args if not a.startswith("-")), "")
        rest = args[args.index(script) + 1 :] if script else []
        base = os.path.basename(script)
        if base == "setup.py":
            return any(a in _SETUP_PY_BUILD for a in rest)
        if base == "manage.py":  # Django
            return bool(rest) and rest[0] == "test"
        return bool(_TEST_SCRIPT.search(base))
    if prog in _JS_PACKAGE_MANAGERS:
        if not args:
            return False
        sub = args[0]
        if sub in {"test", "t", "tst", "build"}:
            return True
        if sub in {"run", "run-script"} and len(args) > 1:
            return bool(_SCRIPT_NAME.match(args[1]))
        if prog in {"yarn", "bun"}:  # `yarn build` / `bun build` run package scripts
            return bool(_SCRIPT_NAME.match(sub))
        return False
    subs = _TEST_BUILD_SUBCOMMANDS.get(prog)
    if subs is not None:
        return bool(args) and args[0] in subs
    return False


def is_test_or_build_command(command: str | Sequence[str]) -> bool:
    """Heuristic: does ``command`` run a test suite or a build/compile step?

    Used by the realtime agent mode, which must stay fast and therefore refuses
    to run tests or builds unless the user explicitly asked for them.

    Recognises, anywhere in a ``&&``/``;``/``|`` chain and behind wrappers such as
    ``env``, ``sudo``, ``time``, ``timeout``, ``uv run``, ``poetry run``, ``npx``:

    * Python: ``pytest``, ``python -m pytest|unittest|tox|nox|build``, ``tox``,
      ``nox``, ``python setup.py test|build...``, ``python manage.py test``,
      ``python run_tests.py``-style scripts;
    * JS: ``npm|pnpm|yarn|bun test``, ``... run test*|build*|compile*``, ``jest``,
      ``vitest``, ``mocha``, ``tsc``, ``webpack``, ``vite build``;
    * native/JVM/others: ``make``, ``cmake``, ``ninja``, ``bazel``, ``mvn``,
      ``gradle``/``./gradlew``, ``ant``, ``sbt``, ``cargo build|test|check|...``,
      ``go test|build|vet``, ``dotnet build|test``, ``swift build|test``,
      compilers (``gcc``, ``clang``, ``javac``, ``rustc``), ``rspec``, ``rake``...

    Running a program (``cargo run``, ``go run``, ``python app.py``) is not
    classed as a build. False negatives are possible for bespoke scripts; it
    is a guard-rail for the model, not a security boundary.
    """
    return any(_argv_is_test_or_build(argv) for argv in _loose_commands(command))
