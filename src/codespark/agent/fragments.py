"""Merge a Python code fragment into a file: what a small model means by "here is the fixed function".

A 0.5B model asked for a whole file often sends only the definitions it changed (or the one it added).
Written as-is that would delete the rest of the file, so when a code block is made of top-level
definitions (functions, classes, methods, imports, constant assignments) and leaves out definitions the
file has, each definition replaces the one of the same name, new ones are appended, and missing imports
are added. It only happens when every name resolves to exactly one place; otherwise the caller treats
the block as the whole file (and the usual checks apply).
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

DEF_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class Span:
    start: int  # 0-based first line (decorators included)
    end: int  # 0-based exclusive end
    indent: str


def _span(node: ast.AST, lines: list[str]) -> Span:
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
    end = node.end_lineno or node.lineno
    first = lines[start] if start < len(lines) else ""
    return Span(start, end, first[: len(first) - len(first.lstrip())])


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def _assigned_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return None


def top_level_names(text: str) -> set[str] | None:
    tree = _parse(text)
    if tree is None:
        return None
    return {n.name for n in tree.body if isinstance(n, DEF_NODES)}


def _is_example_usage(node: ast.AST) -> bool:
    """`print(f(1))` or `if __name__ == "__main__": ...` after the definitions: illustration, not an edit."""
    if isinstance(node, ast.Expr) and not isinstance(getattr(node, "value", None), ast.Constant):
        return True
    if isinstance(node, ast.If):
        test = node.test
        return isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
    return False


def _segment(lines: list[str], span: Span, indent: str) -> list[str]:
    body = textwrap.dedent("".join(lines[span.start:span.end]))
    return [indent + ln if ln.strip() else ln for ln in body.splitlines(keepends=True)]


def _normalized_defs(text: str) -> dict[str, str] | None:
    """Top-level definition name -> its source with the name itself blanked (to spot renamed copies)."""
    tree = _parse(text)
    if tree is None:
        return None
    lines = text.splitlines(keepends=True)
    out = {}
    for node in tree.body:
        if isinstance(node, DEF_NODES):
            span = _span(node, lines)
            src = textwrap.dedent("".join(lines[span.start:span.end]))
            out[node.name] = re.sub(rf"\b{re.escape(node.name)}\b", "@NAME@", src).strip()
    return out


def renamed_definitions(original: str, block: str) -> dict[str, str]:
    """{old: new} for definitions the block has under a new name with an otherwise identical source."""
    have, got = _normalized_defs(original), _normalized_defs(block)
    if not have or not got:
        return {}
    out: dict[str, str] = {}
    for new, src in got.items():
        if new in have:
            continue
        olds = [old for old, old_src in have.items() if old not in got and old_src == src and old not in out]
        if len(olds) == 1:
            out[olds[0]] = new
    return out


def is_fragment(original: str, block: str) -> bool:
    """Does `block` leave out top-level definitions that `original` has (so it is not the whole file)?

    A definition the block renamed (same source under a new name) is not missing."""
    have, got = top_level_names(original), top_level_names(block)
    if not have or got is None:
        return False
    return bool(have - got - set(renamed_definitions(original, block)))


def merge_fragment(original: str, block: str, *, rename_references: bool = False) -> str | None:
    """The file with the fragment's definitions merged in, or None if the block is not a mergeable fragment.

    A renamed definition replaces the old one; with `rename_references` (the user asked for a rename) the
    old name's other uses in this file follow."""
    tree, frag = _parse(original), _parse(block)
    renames = {new: old for old, new in renamed_definitions(original, block).items()}
    if tree is None or frag is None or not frag.body:
        return None
    lines = original.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    flines = block.splitlines(keepends=True)
    if flines and not flines[-1].endswith("\n"):
        flines[-1] += "\n"

    top: dict[str, Span] = {}
    assigns: dict[str, Span] = {}
    methods: dict[str, list[tuple[str, Span]]] = {}  # method name -> [(class, span)]
    class_methods: dict[str, dict[str, Span]] = {}
    for node in tree.body:
        if isinstance(node, DEF_NODES):
            top[node.name] = _span(node, lines)
            if isinstance(node, ast.ClassDef):
                inner = {m.name: _span(m, lines) for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
                class_methods[node.name] = inner
                for name, span in inner.items():
                    methods.setdefault(name, []).append((node.name, span))
        elif (name := _assigned_name(node)) is not None:
            assigns[name] = _span(node, lines)
    imports_end = 0
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports_end = node.end_lineno or node.lineno
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and imports_end == 0:
            imports_end = node.end_lineno or node.lineno  # after the module docstring
    existing_imports = {ln.strip() for ln in lines}

    replacements: list[tuple[int, int, list[str]]] = []  # (start, end, new lines) on the original
    appended: list[list[str]] = []
    new_imports: list[str] = []
    for node in frag.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for ln in flines[node.lineno - 1:node.end_lineno]:
                if ln.strip() and ln.strip() not in existing_imports:
                    new_imports.append(ln.lstrip())
            continue
        if isinstance(node, DEF_NODES):
            seg_span = _span(node, flines)
            name = renames.get(node.name, node.name)
            if name in top:
                if isinstance(node, ast.ClassDef) and name in class_methods:
                    got = {m.name for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
                    if class_methods[name].keys() - got:  # a partial class: merge its methods one by one
                        for m in node.body:
                            if not isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)):
                                continue
                            mspan = _span(m, flines)
                            target = class_methods[name].get(m.name)
                            if target is not None:
                                replacements.append((target.start, target.end, _segment(flines, mspan, target.indent)))
                            else:
                                cls = top[name]
                                body_indent = next(iter(class_methods[name].values())).indent if class_methods[name] else cls.indent + "    "
                                replacements.append((cls.end, cls.end, ["\n", *_segment(flines, mspan, body_indent)]))
                        continue
                t = top[name]
                replacements.append((t.start, t.end, _segment(flines, seg_span, t.indent)))
            elif len(methods.get(name, [])) == 1 and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                _, t = methods[name][0]
                replacements.append((t.start, t.end, _segment(flines, seg_span, t.indent)))
            elif len(methods.get(name, [])) > 1:
                return None  # ambiguous: several classes define it
            else:
                appended.append(_segment(flines, seg_span, ""))
            continue
        if (name := _assigned_name(node)) is not None:
            seg = flines[node.lineno - 1:node.end_lineno]
            if name in assigns:
                t = assigns[name]
                replacements.append((t.start, t.end, _segment(flines, _span(node, flines), t.indent)))
            else:
                new_imports.extend(s.lstrip() for s in seg)  # new constants go after the imports
            continue
        if _is_example_usage(node) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            continue  # usage examples and docstrings of the snippet are not part of the edit
        return None  # other statements: not a pure fragment
    if not replacements and not appended and not new_imports:
        return None
    spans = sorted(replacements, key=lambda r: r[0])
    for (s1, e1, _), (s2, _, _) in zip(spans, spans[1:]):
        if s2 < e1:
            return None  # overlapping targets (a class and one of its methods): not unambiguous
    out = list(lines)
    for start, end, new in sorted(replacements, key=lambda r: r[0], reverse=True):
        out[start:end] = new
    if appended:
        while out and not out[-1].strip():
            out.pop()
        for seg in appended:
            out += ["\n", "\n", *seg] if out else seg
    if new_imports:
        at = imports_end
        out[at:at] = new_imports + (["\n"] if at == 0 and out else [])
    text = "".join(out)
    if rename_references:
        for new, old in renames.items():
            text = re.sub(rf"\b{re.escape(old)}\b", new, text)
    if not original.endswith("\n"):
        text = text.rstrip("\n")
    return text
