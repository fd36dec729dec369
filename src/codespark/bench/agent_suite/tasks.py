"""The edit tasks: an instruction, the starting files, and a check (Python run in the finished workspace).

Small, real-time-sized edits of the kinds the issue names (renames, one-line bug fixes, small additions),
plus a few that stress the formats (a longer file, two files, JavaScript). Several tasks carry a test file
that leaves a marker (`.tests-ran`) when it is imported or run, so the suite also proves that real-time mode
ran no tests. Checks never trust the agent: they import the edited code in a fresh interpreter.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

MARKER = ".tests-ran"
# A test module that records being run (by pytest, unittest or python) before anything else happens.
MARKER_PRELUDE = f"import pathlib\npathlib.Path(__file__).resolve().parent.parent.joinpath({MARKER!r}).write_text('ran')\n"


def _d(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # rename | bugfix | add | change
    instruction: str
    files: dict[str, str]
    check: str  # Python source; exits non-zero (assert) when the edit is wrong
    tags: tuple[str, ...] = field(default=())


TASKS: list[Task] = [
    Task(
        "rename_function", "rename",
        "Rename the function calc_sum to total in utils.py.",
        {"utils.py": _d('''
            def calc_sum(xs):
                result = 0
                for x in xs:
                    result += x
                return result


            def mean(xs):
                return calc_sum(xs) / len(xs)
            '''),
         "tests/test_utils.py": MARKER_PRELUDE + _d('''
            from utils import total


            def test_total():
                assert total([1, 2]) == 3
            ''')},
        _d('''
            import utils, pathlib
            assert utils.total([1, 2, 3]) == 6 and utils.mean([2, 4]) == 3
            assert "calc_sum" not in pathlib.Path("utils.py").read_text()
            '''),
    ),
    Task(
        "rename_variable", "rename",
        "In cart.py, rename the variable qty to quantity everywhere.",
        {"cart.py": _d('''
            def line_total(price, qty):
                if qty < 0:
                    raise ValueError("qty must not be negative")
                return price * qty
            ''')},
        _d('''
            import ast, cart, pathlib, inspect
            assert cart.line_total(2, 3) == 6
            tree = ast.parse(pathlib.Path("cart.py").read_text())
            names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
            assert "qty" not in names and "quantity" in names
            assert list(inspect.signature(cart.line_total).parameters) == ["price", "quantity"]
            '''),
    ),
    Task(
        "rename_two_files", "rename",
        "Rename the function load_config to read_config in settings.py and update its use in app.py.",
        {"settings.py": _d('''
            import json


            def load_config(path):
                with open(path) as f:
                    return json.load(f)
            '''),
         "app.py": _d('''
            from settings import load_config


            def main(path):
                config = load_config(path)
                return config.get("name", "app")
            ''')},
        _d('''
            import json, pathlib
            pathlib.Path("c.json").write_text(json.dumps({"name": "x"}))
            import app, settings
            assert app.main("c.json") == "x" and settings.read_config("c.json") == {"name": "x"}
            assert "load_config" not in pathlib.Path("app.py").read_text() + pathlib.Path("settings.py").read_text()
            '''),
    ),
    Task(
        "fix_average", "bugfix",
        "Fix the bug in average in stats.py: it divides by the wrong count.",
        {"stats.py": _d('''
            def average(xs):
                total = 0
                for x in xs:
                    total += x
                return total / (len(xs) - 1)


            def maximum(xs):
                best = xs[0]
                for x in xs[1:]:
                    if x > best:
                        best = x
                return best
            '''),
         "tests/test_stats.py": MARKER_PRELUDE + _d('''
            from stats import average


            def test_average():
                assert average([1, 2, 3]) == 2
            ''')},
        _d('''
            import stats
            assert stats.average([1, 2, 3]) == 2 and stats.maximum([3, 9, 2]) == 9
            '''),
    ),
    Task(
        "fix_comparison", "bugfix",
        "is_adult in people.py should return True for someone who is exactly 18. Fix it.",
        {"people.py": _d('''
            ADULT_AGE = 18


            def is_adult(age):
                return age > ADULT_AGE


            def describe(name, age):
                kind = "adult" if is_adult(age) else "minor"
                return f"{name} is an {kind}" if kind == "adult" else f"{name} is a {kind}"
            ''')},
        _d('''
            import people
            assert people.is_adult(18) and people.is_adult(40) and not people.is_adult(17)
            assert people.describe("Ann", 18) == "Ann is an adult"
            '''),
    ),
    Task(
        "fix_slice", "bugfix",
        "last_n in seq.py returns one item too many. Fix it.",
        {"seq.py": _d('''
            def first_n(xs, n):
                return xs[:n]


            def last_n(xs, n):
                return xs[-n - 1:]
            ''')},
        _d('''
            import seq
            assert seq.last_n([1, 2, 3, 4], 2) == [3, 4] and seq.first_n([1, 2, 3], 2) == [1, 2]
            '''),
    ),
    Task(
        "fix_typo_message", "bugfix",
        "Fix the typo 'emial' in the error message in validate.py.",
        {"validate.py": _d('''
            import re

            EMAIL = re.compile(r"^[^@\\s]+@[^@\\s]+\\.[a-z]+$")


            def check_email(value):
                if not EMAIL.match(value):
                    raise ValueError(f"Invalid emial address: {value}")
                return value.lower()
            ''')},
        _d('''
            import validate
            try:
                validate.check_email("nope")
            except ValueError as e:
                assert str(e) == "Invalid email address: nope", str(e)
            else:
                raise AssertionError("no error")
            assert validate.check_email("A@b.co") == "a@b.co"
            '''),
    ),
    Task(
        "add_function", "add",
        "Add a function is_even(n) to mathutils.py that returns True when n is even.",
        {"mathutils.py": _d('''
            def square(n):
                return n * n


            def cube(n):
                return n * n * n
            '''),
         "tests/test_mathutils.py": MARKER_PRELUDE + _d('''
            from mathutils import square


            def test_square():
                assert square(3) == 9
            ''')},
        _d('''
            import mathutils
            assert mathutils.is_even(4) is True and mathutils.is_even(7) is False and mathutils.is_even(0) is True
            assert mathutils.square(3) == 9 and mathutils.cube(2) == 8
            '''),
    ),
    Task(
        "add_method", "add",
        "Add a method peek to the Stack class in stack.py that returns the top item without removing it.",
        {"stack.py": _d('''
            class Stack:
                def __init__(self):
                    self.items = []

                def push(self, item):
                    self.items.append(item)

                def pop(self):
                    return self.items.pop()

                def __len__(self):
                    return len(self.items)
            ''')},
        _d('''
            from stack import Stack
            s = Stack(); s.push(1); s.push(2)
            assert s.peek() == 2 and len(s) == 2 and s.pop() == 2 and s.peek() == 1
            '''),
    ),
    Task(
        "add_parameter", "change",
        "Give greet in greet.py an optional greeting parameter that defaults to 'Hello'.",
        {"greet.py": _d('''
            def greet(name):
                return f"Hello, {name}!"
            ''')},
        _d('''
            import greet
            assert greet.greet("Bob") == "Hello, Bob!" and greet.greet("Bob", "Hi") == "Hi, Bob!"
            assert greet.greet("Bob", greeting="Hey") == "Hey, Bob!"
            '''),
    ),
    Task(
        "change_constant", "change",
        "Change the default timeout in config.py from 30 to 60 seconds.",
        {"config.py": _d('''
            DEFAULT_TIMEOUT = 30
            RETRIES = 3


            def timeout_for(attempt):
                return DEFAULT_TIMEOUT * (attempt + 1)
            ''')},
        _d('''
            import config
            assert config.DEFAULT_TIMEOUT == 60 and config.RETRIES == 3 and config.timeout_for(1) == 120
            '''),
    ),
    Task(
        "fix_in_long_file", "bugfix",
        "In inventory.py, remove_item must never let a count go below zero. Fix it.",
        {"inventory.py": _d('''
            """A tiny inventory: item counts by name, with a log of every change."""

            from dataclasses import dataclass, field


            @dataclass
            class Change:
                name: str
                delta: int


            @dataclass
            class Inventory:
                counts: dict = field(default_factory=dict)
                log: list = field(default_factory=list)

                def add_item(self, name, count=1):
                    if count <= 0:
                        raise ValueError("count must be positive")
                    self.counts[name] = self.counts.get(name, 0) + count
                    self.log.append(Change(name, count))

                def remove_item(self, name, count=1):
                    if count <= 0:
                        raise ValueError("count must be positive")
                    self.counts[name] = self.counts.get(name, 0) - count
                    self.log.append(Change(name, -count))

                def count(self, name):
                    return self.counts.get(name, 0)

                def names(self):
                    return sorted(n for n, c in self.counts.items() if c > 0)

                def total(self):
                    return sum(self.counts.values())

                def history(self, name):
                    return [c.delta for c in self.log if c.name == name]


            def restock(inventory, wanted):
                """Add whatever is missing to reach the wanted counts."""
                for name, target in wanted.items():
                    missing = target - inventory.count(name)
                    if missing > 0:
                        inventory.add_item(name, missing)
                return inventory


            def report(inventory):
                lines = [f"{name}: {inventory.count(name)}" for name in inventory.names()]
                return "\\n".join(lines) if lines else "(empty)"
            ''')},
        _d('''
            from inventory import Inventory, restock, report
            inv = Inventory(); inv.add_item("a", 2); inv.remove_item("a", 5)
            assert inv.count("a") == 0, inv.count("a")
            inv.add_item("b", 3); inv.remove_item("b", 1)
            assert inv.count("b") == 2 and report(inv) == "b: 2"
            restock(inv, {"a": 1}); assert inv.count("a") == 1
            '''),
    ),
    Task(
        "js_fix_total", "bugfix",
        "total in cart.js ignores the quantity of each item. Fix it.",
        {"cart.js": _d('''
            // items: [{ name: "pen", price: 2, qty: 3 }, ...]
            function total(items) {
              let sum = 0;
              for (const item of items) {
                sum += item.price;
              }
              return sum;
            }

            module.exports = { total };
            ''')},
        _d('''
            import subprocess
            out = subprocess.run(["node", "-e", "const c = require('./cart.js'); console.log(c.total([{price: 2, qty: 3}, {price: 1, qty: 1}]))"],
                                 capture_output=True, text=True, timeout=20)
            assert out.stdout.strip() == "7", (out.stdout, out.stderr)
            '''),
        tags=("js",),
    ),
]


def get_tasks(names: list[str] | None = None) -> list[Task]:
    if not names:
        return list(TASKS)
    by_name = {t.name: t for t in TASKS}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown task(s): {', '.join(unknown)}; known: {', '.join(by_name)}")
    return [by_name[n] for n in names]
