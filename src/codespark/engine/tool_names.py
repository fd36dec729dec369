"""Constrained decoding of a forced tool call's name.

When tool_choice forces a call, the reply is pre-filled up to `{"name": "`; a small model may still write a
name that is not a tool (e.g. a file path). Here the next tokens are chosen greedily among only those that
continue some tool name, walking the tokenised names like a trie, until one name (and its closing quote)
is complete.
"""

from __future__ import annotations

import numpy as np

NAME_OPENING = '{"name": "'


class NameConstraint:
    def __init__(self, candidates: list[list[int]]):
        self.candidates = [c for c in candidates if c]
        self.produced: list[int] = []

    @classmethod
    def for_tools(cls, names: list[str], tokenize) -> "NameConstraint":
        return cls([tokenize(name + '"') for name in names])

    @property
    def active(self) -> bool:
        return any(len(c) > len(self.produced) and c[: len(self.produced)] == self.produced for c in self.candidates)

    def pick(self, logits: np.ndarray) -> int:
        n = len(self.produced)
        allowed = sorted({c[n] for c in self.candidates if len(c) > n and c[:n] == self.produced})
        token = allowed[int(np.argmax(logits[allowed]))]
        self.produced.append(token)
        return token
