"""Parser for the Codex `apply_patch` format.

    *** Begin Patch
    *** Add File: <path>        then lines starting with '+'
    *** Delete File: <path>
    *** Update File: <path>
    *** Move to: <path>         (optional)
    @@ <context line>           (optional on the first hunk; repeat to narrow further)
     context / -removed / +added lines
    *** End of File             (optional)
    *** End Patch

Leniency mirrors codex and what models actually emit: a missing Begin/End
wrapper, a ``` fence or `apply_patch <<'EOF'` heredoc around the patch, chatter
before *** Begin Patch, blank lines between hunks, and `@@ -1,3 +1,4 @@`
unified-diff headers (the numbers are ignored; matching is by content).
"""

from __future__ import annotations

import re

from .errors import EditParseError
from .model import FileEdit, Hunk

BEGIN = "*** Begin Patch"
END = "*** End Patch"
ADD = "*** Add File:"
DELETE = "*** Delete File:"
UPDATE = "*** Update File:"
MOVE = "*** Move to:"
EOF_MARK = "*** End of File"
HEADERS = (ADD, DELETE, UPDATE)
_HEREDOC = re.compile(r"""^\s*(?:\S*apply_patch\s*)?<<-?\s*(['"]?)(?P<tag>\w+)\1\s*$""")
_FENCE_OPEN = re.compile(r"^ {0,3}(?:`{3,}|~{3,})\s*[\w+.-]*\s*$")
_FENCE_CLOSE = re.compile(r"^(?:`{3,}|~{3,})\s*$")
_GIT_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@ ?(?P<ctx>.*)$")

Line = tuple[int, str]  # (1-based line number in the model's text, line)


def looks_like_patch(text: str) -> bool:
    return any(line.strip().startswith((BEGIN, *HEADERS)) for line in text.splitlines())


def parse_patch(text: str) -> list[FileEdit]:
    body = _unwrap([(n, line) for n, line in enumerate(text.splitlines(), 1)])
    edits: list[FileEdit] = []
    i = 0
    while i < len(body):
        no, line = body[i]
        head = line.strip()
        if not head:
            i += 1
        elif head.startswith(ADD):
            path = _path(head, ADD, no)
            i, content = _parse_add(body, i + 1)
            edits.append(FileEdit("add", path, "apply_patch", content=content))
        elif head.startswith(DELETE):
            edits.append(FileEdit("delete", _path(head, DELETE, no), "apply_patch"))
            i += 1
        elif head.startswith(UPDATE):
            i, edit = _parse_update(body, i + 1, _path(head, UPDATE, no), no)
            edits.append(edit)
        else:
            hint = ""
            if edits and edits[-1].kind == "add":
                hint = f" (every line of '*** Add File: {edits[-1].path}' must start with '+')"
            raise EditParseError(
                f"'{line}' is not a valid hunk header{hint}. Valid hunk headers: "
                "'*** Add File: {path}', '*** Delete File: {path}', '*** Update File: {path}'",
                line=no,
            )
    if not edits:
        raise EditParseError("the patch contains no '*** Add/Update/Delete File:' sections")
    return edits


def _unwrap(lines: list[Line]) -> list[Line]:
    """The lines between the patch markers, with wrappers and surrounding chatter removed."""
    begins = [k for k, (_, line) in enumerate(lines) if line.strip() == BEGIN]
    if len(begins) > 1:
        raise EditParseError("found more than one '*** Begin Patch'; send a single patch", line=lines[begins[1]][0])
    if begins:
        body = lines[begins[0] + 1:]
        ends = [k for k, (_, line) in enumerate(body) if line.strip() == END]
        if ends:
            # Text after *** End Patch (a closing fence, EOF, a sentence) is not ours.
            return _trim_blank(body[: ends[-1]])
        opener = _last_nonblank(lines[: begins[0]])
    else:
        start = next((k for k, (_, line) in enumerate(lines) if line.strip().startswith(HEADERS)), None)
        if start is None:
            raise EditParseError(f"no '{BEGIN}' or '*** Add/Update/Delete File:' line found")
        opener = _last_nonblank(lines[:start])
        # Without *** Begin Patch, only a wrapper line may precede the body, so
        # the patch's extent is still unambiguous.
        if opener is not None and not (_HEREDOC.match(opener[1]) or _FENCE_OPEN.match(opener[1])):
            raise EditParseError(
                f"expected '{BEGIN}' or a '*** Add/Update/Delete File:' line, got '{opener[1]}'", line=opener[0]
            )
        body = lines[start:]
    body = _cut_at_closer(body, opener[1] if opener else None)
    if body and body[-1][1].strip() == END:
        body = body[:-1]
    return body


def _last_nonblank(lines: list[Line]) -> Line | None:
    return next((item for item in reversed(lines) if item[1].strip()), None)


def _cut_at_closer(body: list[Line], opener: str | None) -> list[Line]:
    """End the body where the wrapper that opened it closes (``` or the heredoc tag)."""
    heredoc = _HEREDOC.match(opener) if opener else None
    fenced = bool(opener and _FENCE_OPEN.match(opener))
    for k, (_, line) in enumerate(body):
        # Patch lines start with ' ', '+', '-' or '@', so a bare closer cannot be one.
        if (heredoc and line.lstrip("\t").rstrip() == heredoc["tag"]) or (fenced and _FENCE_CLOSE.match(line)):
            return _trim_blank(body[:k])
    return _trim_blank(body)


def _trim_blank(lines: list[Line]) -> list[Line]:
    end = len(lines)
    while end and not lines[end - 1][1].strip():
        end -= 1
    return lines[:end]


def _path(head: str, marker: str, no: int) -> str:
    path = head[len(marker):].strip()
    if not path:
        raise EditParseError(f"'{marker}' needs a file path after it", line=no)
    return path


def _parse_add(body: list[Line], i: int) -> tuple[int, str]:
    content: list[str] = []
    blanks = 0
    while i < len(body):
        line = body[i][1]
        if line.startswith("+"):
            # A bare empty line between '+' lines is an empty line of the file.
            content += [""] * blanks + [line[1:]]
            blanks = 0
        elif not line.strip():
            blanks += 1
        else:
            break
        i += 1
    return i, "".join(c + "\n" for c in content)


def _parse_update(body: list[Line], i: int, path: str, header_no: int) -> tuple[int, FileEdit]:
    move_to = None
    if i < len(body) and body[i][1].strip().startswith(MOVE):
        move_to = _path(body[i][1].strip(), MOVE, body[i][0])
        i += 1
    hunks: list[Hunk] = []
    while i < len(body):
        line = body[i][1]
        if not line.strip():
            i += 1  # blank lines between hunks
            continue
        if line.lstrip().startswith("***"):
            break
        hunk, i = _parse_hunk(body, i, path)
        hunks.append(hunk)
    if not hunks and move_to is None:
        raise EditParseError(f"'*** Update File: {path}' has no hunks", line=header_no)
    return i, FileEdit("update", path, "apply_patch", move_to=move_to, hunks=tuple(hunks))


def _parse_hunk(body: list[Line], i: int, path: str) -> tuple[Hunk, int]:
    contexts: list[str] = []
    headers = 0
    while i < len(body) and (body[i][1].strip() == "@@" or body[i][1].startswith("@@ ")):
        raw = body[i][1]
        git = _GIT_HUNK.match(raw)
        ctx = git["ctx"] if git else raw[3:]
        if ctx.strip():
            contexts.append(ctx)
        headers += 1
        i += 1
    old: list[str] = []
    new: list[str] = []
    eof = False
    count = 0
    start_no = body[i - 1][0] if headers else body[i][0]
    while i < len(body):
        no, line = body[i]
        if line.strip() == EOF_MARK:
            if not count:
                raise EditParseError(f"hunk for {path} has no lines before '{EOF_MARK}'", line=no)
            eof = True
            i += 1
            break
        tag = line[:1]
        if tag == "":
            old.append("")  # an empty line is an empty context line
            new.append("")
        elif tag == " ":
            old.append(line[1:])
            new.append(line[1:])
        elif tag == "-":
            old.append(line[1:])
        elif tag == "+":
            new.append(line[1:])
        elif count and (line.startswith("@@") or line.lstrip().startswith("***")):
            break  # the next hunk or file header
        else:
            raise EditParseError(
                f"unexpected line in hunk for {path}: '{line}'. Every line should start with "
                "' ' (context line), '+' (added line) or '-' (removed line); '@@' starts a new hunk",
                line=no,
            )
        count += 1
        i += 1
    if not count:
        raise EditParseError(f"hunk for {path} has no lines", line=start_no)
    return Hunk(tuple(contexts), tuple(old), tuple(new), eof), i
