"""Pick the edit format a reply uses and parse it."""

from __future__ import annotations

from .errors import EditParseError
from .grammar import looks_like_patch, parse_patch
from .model import FileEdit
from .search_replace import looks_like_search_replace, parse_search_replace
from .whole_file import parse_whole_file


def parse_edits(text: str) -> list[FileEdit]:
    """Parse a model reply into file edits; raises EditParseError when nothing unambiguous is found."""
    if not text.strip():
        raise EditParseError("the edit is empty")
    patch = looks_like_patch(text)
    blocks = looks_like_search_replace(text)
    if patch and blocks:
        raise EditParseError(
            "the reply mixes an apply_patch patch ('*** ... File:') with SEARCH/REPLACE blocks; "
            "use one format per reply"
        )
    if patch:
        return parse_patch(text)
    if blocks:
        return parse_search_replace(text)
    return parse_whole_file(text)
