"""Find a run of lines in a file with codex's escalating tolerance.

Pass 1 is exact; pass 2 ignores trailing whitespace; pass 3 ignores leading and
trailing whitespace; pass 4 also maps typographic punctuation (smart quotes,
dashes, odd spaces) to ASCII, because models often "prettify" it.
A stricter pass always wins, so a sloppy match never hides an exact one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from difflib import SequenceMatcher

_PUNCT = str.maketrans(
    {
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
        **dict.fromkeys("\u2018\u2019\u201a\u201b", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f", '"'),
        **dict.fromkeys("\u00a0\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000", " "),
    }
)

Normalizer = Callable[[str], str]
PASSES: tuple[Normalizer, ...] = (
    lambda s: s,
    str.rstrip,
    str.strip,
    lambda s: s.strip().translate(_PUNCT),
)


def _matches_at(lines: Sequence[str], pattern: Sequence[str], norm: Normalizer) -> list[int]:
    want = [norm(p) for p in pattern]
    have = [norm(line) for line in lines]
    n = len(want)
    return [i for i in range(len(have) - n + 1) if have[i:i + n] == want]


def seek_sequence(lines: Sequence[str], pattern: Sequence[str], start: int = 0, eof: bool = False) -> int | None:
    """Index of the first match at or after `start`, or None.

    With `eof`, a match ending exactly at the last line is tried first (the hunk
    said `*** End of File`), falling back to a normal search like codex.
    """
    if not pattern:
        return start
    if len(pattern) > len(lines):
        return None
    if eof:
        tail = len(lines) - len(pattern)
        for norm in PASSES:
            if [norm(x) for x in lines[tail:]] == [norm(p) for p in pattern]:
                return tail
    for norm in PASSES:
        hits = _matches_at(lines[start:], pattern, norm)
        if hits:
            return start + hits[0]
    return None


def find_all(lines: Sequence[str], pattern: Sequence[str]) -> tuple[list[int], int]:
    """All match positions at the strictest pass that finds any, and that pass's index."""
    if not pattern or len(pattern) > len(lines):
        return [], -1
    for level, norm in enumerate(PASSES):
        hits = _matches_at(lines, pattern, norm)
        if hits:
            return hits, level
    return [], -1


def indent_prefix(found: Sequence[str], pattern: Sequence[str]) -> str:
    """The indentation the file has in front of every pattern line, if it is uniform.

    Models often drop the common indentation of a SEARCH block (Aider re-indents
    too). Returns "" when there is no single extra prefix.
    """
    prefix: str | None = None
    for have, want in zip(found, pattern, strict=True):
        if not want.strip():
            continue
        h_indent = have[: len(have) - len(have.lstrip())]
        w_indent = want[: len(want) - len(want.lstrip())]
        if not h_indent.endswith(w_indent):
            return ""
        extra = h_indent[: len(h_indent) - len(w_indent)]
        if prefix is None:
            prefix = extra
        elif prefix != extra:
            return ""
    return prefix or ""


def merge_context(found: Sequence[str], old: Sequence[str], new: Sequence[str], prefix: str = "") -> list[str]:
    """The replacement for `found`, keeping the file's own text for unchanged lines.

    After a whitespace-tolerant match, the model's copy of a context line may differ
    from the file in whitespace; rewriting it would be a change nobody asked for.
    """
    out: list[str] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, list(old), list(new), autojunk=False).get_opcodes():
        if tag == "equal":
            out += found[i1:i2]
        else:
            out += [prefix + line if prefix and line.strip() else line for line in new[j1:j2]]
    return out


def closest_region(lines: Sequence[str], pattern: Sequence[str]) -> tuple[int, float] | None:
    """(start index, similarity 0..1) of the window most like `pattern`, for error messages.

    Windows are proposed by voting: each identical line and each shared, not too
    common identifier votes for the window it would align; only the top few are
    scored with difflib, so a miss in a 2 MB file still answers quickly.
    Returns None when no line shares anything with the pattern.
    """
    if not lines or not pattern:
        return None
    size = min(len(pattern), len(lines))
    last = len(lines) - size
    stripped = [line.strip() for line in lines]
    by_line: dict[str, list[int]] = {}
    by_token: dict[str, list[int]] = {}
    for i, s in enumerate(stripped):
        by_line.setdefault(s, []).append(i)
        for tok in set(_TOKEN.findall(s)):
            by_token.setdefault(tok, []).append(i)
    votes: dict[int, int] = {}

    def vote(i: int, j: int, weight: int) -> None:
        start = min(max(i - j, 0), last)
        votes[start] = votes.get(start, 0) + weight

    for j, p in enumerate(pattern):
        s = p.strip()
        for i in by_line.get(s, ()) if s else ():
            vote(i, j, 5)
        for tok in set(_TOKEN.findall(s)):
            hits = by_token.get(tok, ())
            if len(hits) <= _COMMON:
                for i in hits:
                    vote(i, j, 1)
    if not votes:
        return None
    want = "\n".join(p.strip() for p in pattern)
    candidates = sorted(votes, key=lambda s: (-votes[s], s))[:20]
    scored = [(SequenceMatcher(None, "\n".join(stripped[s:s + size]), want).ratio(), -s) for s in candidates]
    ratio, neg_start = max(scored)
    return -neg_start, ratio


_TOKEN = re.compile(r"\w{2,}")
_COMMON = 200  # a token on more lines than this says nothing about where we are
