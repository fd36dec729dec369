"""Speculative decoding: cheap drafts, verified by the model in one batched forward pass.

A decode step evaluates the next token together with k drafted tokens that are guesses of what follows it,
with logits for exactly those k+1 rows (never for prompt positions). Row i says what the model itself would
emit after the first i drafted tokens, so the longest prefix of the draft that agrees with the rows is kept,
plus one token the model chose: every pass yields between 1 and k+1 tokens, and with greedy decoding the
output is token for token what plain decoding gives (with sampling, drafts are accepted with the model's own
probability, which keeps the output distribution exact).

Exactness on CPU: llama.cpp's CPU kernels are not batch-invariant. The logits of the same position differ
by up to ~0.6 between a one-row pass and a wide one, and between histories evaluated in different chunk
patterns (measured on the default Qwen2.5-Coder-0.5B: passes of 2 and 4 rows agree bit for bit, 3 and 7,
8/16/32, while 1, 9 and 64 each differ from all others; the same with llamafile's sgemm compiled out and
with flash attention off, so no build option removes it; repacked weights change which widths agree, not the
size of the difference: docs/benchmarks/profile.md §5). Even plain decoding's output depends on how its
prompt was chunked, i.e. on what was cached. Verification itself is exact -- a drafted token is kept only if
it is the argmax of its own row -- so greedy output equals plain decoding's except where the model's top two
candidates are that close (a near-tie that the kernels, not the drafts, decide; in whole-file rewrites 0.6%
of tokens have a top-two margin under 2). tests/engine/test_speculative.py checks the equality, and checks
that any fork is at such a near-tie.

Drafts come from, in order of preference:
- `SourceFollower`: the text the reply is expected to copy (an OpenAI-style `prediction`, otherwise the prompt
  and output so far, which hold the file being edited). It keeps an alignment pointer and follows the source
  from it; after a mismatch it re-aligns on the last few output tokens, preferring the nearest match after
  the point where it lost track (the edit), so a whole-file rewrite is followed through its unchanged parts.
  It repeats edits it has seen (a rename), and follows a block that moved a level in or out (`Indentation`).
- `NGramDrafter`: the most recent earlier occurrence of the last few tokens in prompt + output
  (prompt-lookup decoding), for repetition that is not a copy of one source.
- `ModelDrafter` (scheduler option): a small model with the same vocabulary that proposes tokens greedily.

`Speculator` picks the draft length from each drafter's running acceptance rate and the measured cost of a
wider batch, and drafts nothing when drafting does not pay.
"""

from __future__ import annotations

import bisect
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

if TYPE_CHECKING:
    from .runtime import LlamaRuntime


@dataclass(frozen=True)
class SpeculationConfig:
    enabled: bool = True
    # Tokens verified at most in one pass (the batch is max_draft + 1 rows). On CPU a pass of w rows costs
    # about w**0.78 one-row passes (see CostModel), so only long drafts pay well: llama.cpp's ngram-mod drafts
    # 48-64. The draft length is chosen per pass (see Speculator.propose); this is only the ceiling.
    max_draft: int = 64  # (128 was measured too: longer stretches, but more rows wasted where they fail)
    min_draft: int = 0  # draft at least this many tokens whenever a source can (0: only when it pays)
    # A source follower drafts once the output has matched its source this many tokens in a row (llama.cpp's
    # ngram-mod waits for a 24-token match); the gate doubles while its drafts keep failing.
    min_run: int = 16
    max_gate: int = 64  # ceiling of that doubling
    ngram: int = 3  # output tokens that must match the source before a lookup drafts from it
    # Starting guess of the per-token acceptance of the n-gram and draft-model sources, before any evidence
    # (the source followers are gated on their run of matches instead, see Speculator.propose).
    priors: tuple[tuple[str, float], ...] = (("ngram", 0.8), ("model", 0.8))
    prior_acceptance: float = 0.8  # any other source
    # Cost of a verification pass of w rows relative to a one-row pass: w ** exponent, measured online;
    # this is the starting point (2-core x86, Qwen2.5-Coder-0.5B: 2 rows 1.7x, 16 rows 8.7x, 64 rows 25x).
    cost_exponent: float = 0.78
    drafters: tuple[str, ...] = ("prediction", "source", "ngram", "model")  # which sources may draft, in this order

    def prior(self, name: str) -> float:
        return dict(self.priors).get(name, self.prior_acceptance)


class Drafter(Protocol):
    name: str
    # compute spent per drafted token, relative to a one-row decode of the target model (0: free lookups)
    cost_per_token: float

    def draft(self, context: list[int], k: int) -> list[int]:
        """Up to k tokens guessed to follow context (prompt + output so far)."""
        ...


INDENT = -1  # what every line indentation token reads as, to an indentation-blind index


class Indentation:
    """Which tokens indent a line, and the token for each indentation width.

    Code BPE vocabularies (Qwen's, Llama 3's, GPT-4's) split a line's leading spaces but one into a token of
    their own, right after the token that ends the previous line; the last space goes with the line's first
    word. So a block that moved a level in or out (a wrapped `try:`, an inlined helper, a merged branch) is a
    copy of its source in every token but those, and a follower that reads them as one symbol and keeps the
    width difference can draft it. Built from the vocabulary once per model.
    """

    MAX_WIDTH = 64

    def __init__(self, tokenize: Callable[[str], list[int]], token_bytes: Callable[[int], bytes]):
        self.token_of: dict[int, int] = {}  # width -> the single token of that many spaces
        for w in range(1, self.MAX_WIDTH + 1):
            t = tokenize(" " * w)
            if len(t) == 1:
                self.token_of[w] = t[0]
        self.width_of = {t: w for w, t in self.token_of.items()}
        self._token_bytes = token_bytes
        self._ends_line: dict[int, bool] = {}

    def ends_line(self, token: int) -> bool:
        e = self._ends_line.get(token)
        if e is None:
            e = self._ends_line[token] = self._token_bytes(token).endswith(b"\n")
        return e

    def width(self, tokens: list[int], i: int) -> int | None:
        """The indentation width if tokens[i] indents a line, else None."""
        w = self.width_of.get(tokens[i])
        return w if w is not None and i > 0 and self.ends_line(tokens[i - 1]) else None

    def shifted(self, token: int, shift: int) -> int:
        """The indentation token `shift` columns wider (the token itself where none exists)."""
        return self.token_of.get(self.width_of[token] + shift, token)


class TokenIndex:
    """Every n-gram of a growing token list, mapped to the positions right after it (ascending).

    With `indentation`, line indentation tokens are one symbol in the n-grams (the tokens kept are unchanged).
    """

    def __init__(self, n: int, indentation: Indentation | None = None):
        self.n = n
        self.indentation = indentation
        self.tokens: list[int] = []
        # tokens as the n-grams read them: the same list unless indentation is folded
        self.keys: list[int] = self.tokens if indentation is None else []
        self.after: dict[tuple[int, ...], list[int]] = {}

    def extend(self, tokens: list[int]) -> None:
        t, n, after = self.tokens, self.n, self.after
        start = len(t)
        t.extend(tokens)
        if self.keys is not t:
            self.keys.extend(self.normalized(t, start, len(t)))
        k = self.keys
        for q in range(max(n, start + 1), len(t) + 1):
            key = tuple(k[q - n : q])
            where = after.get(key)
            if where is None:
                after[key] = [q]
            else:
                where.append(q)

    def normalized(self, tokens: list[int], start: int, end: int) -> list[int]:
        ind = self.indentation
        if ind is None:
            return tokens[start:end]
        return [INDENT if ind.width(tokens, i) is not None else tokens[i] for i in range(start, end)]

    def sync(self, context: list[int]) -> None:
        """Index the tokens that context (a longer copy of what was indexed) has gained."""
        if len(context) > len(self.tokens):
            self.extend(context[len(self.tokens) :])

    def positions(self, context: list[int]) -> list[int]:
        """Where the last n tokens of context occur."""
        end = len(context)
        return self.after.get(tuple(self.normalized(context, max(0, end - self.n), end)), [])


def match_length(a: list[int], a_end: int, b: list[int], b_end: int, limit: int = 32) -> int:
    """How many tokens before a_end in a equal those before b_end in b."""
    n = 0
    while n < limit and n < a_end and n < b_end and a[a_end - 1 - n] == b[b_end - 1 - n]:
        n += 1
    return n


class SourceFollower:
    """Follows a source text the output is expected to copy, re-aligning after each divergence.

    `source` None means the context itself (prompt + output so far): the file being edited is in the prompt.

    Edits repeat: a rename changes every occurrence the same way. When the follower re-aligns after a
    divergence it knows which source tokens the output replaced and with what, and it drafts that
    replacement wherever the same source tokens come again (keyed with the token before the edit, so a
    common token is not rewritten everywhere). A replacement the model then rejects is forgotten.

    With `indentation`, a copy may also be re-indented: the follower aligns on lines whatever their
    indentation, keeps the width difference between the output and the source from the last indented line
    both had, and drafts the source's indentation shifted by it.
    """

    name = "source"
    cost_per_token = 0.0
    MAX_EDIT = 48  # longest replaced span / replacement remembered, in tokens

    def __init__(self, n: int, source: list[int] | None = None, *, output_start: int = 0,
                 indentation: Indentation | None = None):
        self.n = n
        self.own = source is not None
        self.ind = indentation
        self.index = TokenIndex(n)
        # indentation-blind n-grams: re-alignment falls back to them where no exact n-gram occurs
        self.blind = TokenIndex(n, indentation) if indentation is not None else None
        if source is not None:
            self.index.extend(source)
            if self.blind is not None:
                self.blind.extend(source)
        self.ptr: int | None = 0 if self.own else None  # source position of the next expected token
        self.pending: tuple[int, ...] = ()  # rest of a replacement being drafted (ptr is already past its key)
        self.anchor = 0  # where alignment was last lost: re-alignment prefers what follows it
        self.synced = output_start  # context tokens already compared with the source
        self.lost: tuple[int, int] | None = None  # (source position, context index) of the last divergence
        self.edits: dict[int, dict[tuple[int, ...], tuple[int, ...]]] = {}  # first key token -> key -> replacement
        self.applied: tuple[int, ...] | None = None  # the key of the replacement being followed, if any
        self.run = 0  # output tokens matched in a row since the last (re-)alignment
        self.shift = 0  # output indentation minus the source's, in columns

    def prepare(self, context: list[int]) -> None:
        """Compare the tokens the context gained with the source, and re-align after a divergence."""
        if not self.own:
            self.index.sync(context)
            if self.blind is not None:
                self.blind.sync(context)
        ptr, pending = self.ptr, self.pending
        for i in range(self.synced, len(context)):
            if ptr is None:
                break
            step = self._next(ptr, pending)
            if step is not None and (step[0] == context[i] or self._reindented(step, pending, context, i)):
                _, ptr, pending, key = step
                self.run += 1
                if key is not None:
                    self.applied = key
                if not pending:
                    self.applied = None
            else:
                if self.applied is not None:  # the remembered edit does not hold here: forget it
                    self.edits.get(self.applied[0], {}).pop(self.applied, None)
                    self.applied = None
                # mid-replacement the source position is past the key: too vague to learn an edit from
                self.lost = None if pending else (ptr, i)
                self.anchor, ptr, pending = ptr, None, ()
        self.synced = len(context)
        if ptr is None:
            ptr, self.run = self._realign(context)
            if ptr is not None:
                self._learn(context, ptr, self.run)
                self._measure_shift(context, ptr, self.run)
        self.ptr, self.pending = ptr, pending

    def _reindented(self, step, pending: tuple[int, ...], context: list[int], i: int) -> bool:
        """Is context[i] the source's indentation token at another width? (Then that width is the new shift.)"""
        ind = self.ind
        if ind is None or pending or step[3] is not None:
            return False
        s = step[1] - 1  # the source token the step drafted
        w_src, w_out = ind.width(self.index.tokens, s), ind.width(context, i)
        if w_src is None or w_out is None:
            return False
        # a new shift is weak evidence that this is the right source line: the run of matches starts again
        self.run, self.shift = 0, w_out - w_src
        return True

    def _measure_shift(self, context: list[int], q: int, matched: int) -> None:
        """After re-aligning: the shift of the last line indentation in the matched tokens, if any."""
        ind = self.ind
        if ind is None:
            return
        src = self.index.tokens
        for j in range(1, matched + 1):
            w_src = ind.width(src, q - j)
            if w_src is not None:
                w_out = ind.width(context, len(context) - j)
                self.shift = 0 if w_out is None else w_out - w_src
                return

    @property
    def run_length(self) -> int | None:
        """Output tokens matched in a row since the follower (re-)aligned; None while it is lost."""
        return None if self.ptr is None else self.run

    def draft(self, context: list[int], k: int) -> list[int]:
        if self.synced != len(context):
            self.prepare(context)
        ptr, pending = self.ptr, self.pending
        if ptr is None:
            return []
        out: list[int] = []
        while len(out) < k:
            step = self._next(ptr, pending)
            if step is None:
                break
            out.append(step[0])
            ptr, pending = step[1], step[2]
        return out

    def _next(self, ptr: int, pending: tuple[int, ...]):
        """The next expected token and the state after it: (token, ptr, pending, key of a replacement it
        starts or None); None at the end of the source."""
        if pending:
            return pending[0], ptr, pending[1:], None
        src = self.index.tokens
        while ptr < len(src):
            for key, repl in self.edits.get(src[ptr], {}).items():
                if tuple(src[ptr : ptr + len(key)]) == key:
                    if repl:
                        return repl[0], ptr + len(key), repl[1:], key
                    ptr += len(key)  # a deletion
                    break
            else:
                token = src[ptr]
                if self.shift and self.ind is not None and self.ind.width(src, ptr) is not None:
                    token = self.ind.shifted(token, self.shift)
                return token, ptr + 1, (), None
        return None

    def _learn(self, context: list[int], q: int, matched: int) -> None:
        """Remember the edit between the last divergence and re-alignment at source position q."""
        if self.lost is None:
            return
        (lost_src, lost_ctx), self.lost = self.lost, None
        src = self.index.tokens
        tail = min(matched, len(context) - lost_ctx)  # the re-aligned tokens are not part of the edit
        src_end, ctx_end = q - tail, len(context) - tail
        if lost_src < 1 or lost_ctx < 1 or src_end < lost_src or src[lost_src - 1] != context[lost_ctx - 1]:
            return
        key, repl = tuple(src[lost_src - 1 : src_end]), tuple(context[lost_ctx - 1 : ctx_end])
        if key != repl and len(key) <= self.MAX_EDIT and len(repl) <= self.MAX_EDIT:
            self.edits.setdefault(key[0], {})[key] = repl

    def _realign(self, context: list[int]) -> tuple[int | None, int]:
        if len(context) < self.n:
            return None, 0
        end = len(self.index.tokens)
        where = self.index.positions(context)
        if not where and self.blind is not None:
            where = self.blind.positions(context)
        if not where:
            return None, 0
        # matches are measured indentation-blind: the output's tail, normalised once for every candidate
        keys = (self.blind or self.index).keys
        tail = (self.blind or self.index).normalized(context, max(0, len(context) - 64), len(context))
        # nearest occurrence at or after the point of divergence, whose continuation is known
        i = bisect.bisect_left(where, self.anchor)
        while i < len(where) and where[i] >= end:
            i += 1
        if i < len(where):
            q = where[i]
            return q, match_length(keys, q, tail, len(tail), limit=64)
        # otherwise the occurrence before it that matches the most output, latest first
        best, best_len = None, -1
        for q in reversed(where[max(0, i - 64) : i]):
            if q >= end:
                continue
            m = match_length(keys, q, tail, len(tail), limit=64)
            if m > best_len:
                best, best_len = q, m
        return best, max(best_len, 0)


class NGramDrafter:
    """Prompt-lookup decoding: continue like the latest earlier occurrence of the context's last tokens."""

    name = "ngram"
    cost_per_token = 0.0

    def __init__(self, n: int):
        self.index = TokenIndex(n)

    def draft(self, context: list[int], k: int) -> list[int]:
        self.index.sync(context)
        where = self.index.positions(context)
        for q in reversed(where):
            if q < len(context):  # not the context's own suffix, which has no continuation yet
                return context[q : min(q + k, len(context))]
        return []


class DraftModel:
    """A small model with the target's vocabulary, loaded once per engine, with one KV sequence per slot."""

    def __init__(self, runtime: "LlamaRuntime"):
        self.runtime = runtime
        self.held: dict[int, list[int]] = {}  # per sequence: the tokens its KV cache holds
        self.seconds_per_token: float | None = None  # one-token decode time, measured

    def decode(self, seq: int, tokens: list[int]) -> None:
        """Append tokens to a sequence; when the draft KV pool is full, other sequences make room."""
        from .runtime import KVCacheFull

        held = self.held.setdefault(seq, [])
        try:
            self.runtime.decode(seq, tokens, len(held))
        except KVCacheFull:
            for other, toks in self.held.items():
                if other != seq and toks:
                    self.runtime.drop(other)
                    toks.clear()
            self.runtime.decode(seq, tokens, len(held))
        held.extend(tokens)


class ModelDrafter:
    """Greedy drafts from a small model (e.g. Qwen2.5-Coder-0.5B for 1.5B) that shares the tokenizer.

    Its KV sequence mirrors the target's: before drafting it drops what the context no longer contains and
    evaluates what it lacks (the whole prompt the first time). Drafting stops early once the small model is
    unsure (its top probability below `min_confidence`), where its guesses are mostly wasted.
    """

    name = "model"

    def __init__(self, model: DraftModel, seq: int, target_step_seconds, min_confidence: float = 0.5):
        self.model = model
        self.seq = seq
        self.target_step_seconds = target_step_seconds  # callable: a one-row decode of the target, seconds
        self.min_confidence = min_confidence

    @property
    def cost_per_token(self) -> float:
        mine, target = self.model.seconds_per_token, self.target_step_seconds()
        if not mine or not target:
            return 0.35  # a 0.5B drafting for a 1.5B on CPU, before anything is measured
        return mine / target

    def draft(self, context: list[int], k: int) -> list[int]:
        from .slots import common_prefix

        rt = self.model.runtime
        held = self.model.held.setdefault(self.seq, [])
        p = min(common_prefix(held, context), len(context) - 1)  # the last context token is evaluated again for its logits
        rt.drop(self.seq, p)
        del held[p:]
        batch = rt.config.n_batch
        while p < len(context):  # catch up (the prompt, the first time; afterwards a token or two)
            chunk = context[p : p + batch]
            self.model.decode(self.seq, chunk)
            p += len(chunk)
        out: list[int] = []
        while True:
            logits = rt.logits(-1)
            token = int(np.argmax(logits))
            top = float(logits[token])
            confidence = 1.0 / float(np.exp(logits - top).sum())
            if confidence < self.min_confidence and out:
                break
            out.append(token)
            if len(out) >= k or rt.is_end_of_generation(token):
                break
            t0 = time.perf_counter()
            self.model.decode(self.seq, [token])
            dt = time.perf_counter() - t0
            spt = self.model.seconds_per_token
            self.model.seconds_per_token = dt if spt is None else 0.9 * spt + 0.1 * dt
        return out


@dataclass
class DrafterStats:
    drafted: int = 0
    accepted: int = 0
    passes: int = 0
    # exponentially forgotten evidence of the per-token acceptance probability
    hits: float = 0.0
    tests: float = 0.0

    def acceptance(self, prior: float) -> float:
        return (self.hits + 2.0 * prior) / (self.tests + 2.0)


@dataclass
class SpeculationStats:
    drafted: int = 0
    accepted: int = 0
    passes: int = 0  # verification passes that carried a draft
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return self.drafted - self.accepted


def expected_accepted(alpha: float, k: int) -> float:
    """Expected accepted tokens of a k-token draft when each is accepted with probability alpha."""
    if alpha >= 1.0:
        return float(k)
    return alpha * (1.0 - alpha**k) / (1.0 - alpha)


def best_draft_length(alpha: float, exponent: float, k_max: int, draft_cost: float = 0.0) -> int:
    """k maximising expected tokens per unit of time, (1 + E[accepted]) / ((k + 1) ** exponent + draft_cost * k);
    0 = do not draft.

    A pass of k + 1 rows costs (k + 1) ** exponent one-row passes (CostModel); producing a drafted token
    costs draft_cost one-row passes (0 for lookups, a model's own decode step for a draft model).
    """
    best_k, best = 0, 1.0
    a_k = 1.0
    for k in range(1, k_max + 1):
        a_k *= alpha
        accepted = alpha * (1.0 - a_k) / (1.0 - alpha) if alpha < 1.0 else float(k)
        gain = (1.0 + accepted) / ((k + 1) ** exponent + draft_cost * k)
        if gain > best * 1.0001:
            best_k, best = k, gain
    return best_k


class CostModel:
    """Running estimate of what a verification pass of w rows costs: T(w) = T(1) * w ** exponent.

    Pass times are fitted online in log space, log T = log T(1) + exponent * log w (least squares with
    exponential forgetting, so it follows a machine whose load changes). A power law fits llama.cpp on CPU
    well: a one-row pass uses per-row dot products, wider ones tiled matrix kernels that reuse each
    dequantised weight block across rows, so the cost per row falls as passes widen. Passes of different
    widths occur naturally (short probes after a re-alignment, long drafts while following a source, single
    rows when not drafting), which is what makes both coefficients observable.
    """

    DECAY = 0.98

    def __init__(self, exponent: float):
        self.prior = exponent
        self.exponent = exponent
        self.single_step: float | None = None  # seconds of a one-row pass
        self._s = [0.0] * 5  # weighted sums: n, x, xx, y, xy with x = log w, y = log seconds

    def observe(self, rows: int, seconds: float) -> None:
        if seconds <= 0:
            return
        d = self.DECAY
        x, y = math.log(rows), math.log(seconds)
        n, sx, sxx, sy, sxy = self._s
        self._s = [n * d + 1, sx * d + x, sxx * d + x * x, sy * d + y, sxy * d + x * y]
        n, sx, sxx, sy, sxy = self._s
        if rows == 1:
            self.single_step = seconds if self.single_step is None else 0.9 * self.single_step + 0.1 * seconds
        var = sxx * n - sx * sx
        if n < 4 or var < 0.25 * n * n:  # widths too alike to separate the two coefficients
            return
        slope = (sxy * n - sx * sy) / var
        self.exponent = min(1.0, max(0.3, slope))
        self.single_step = math.exp((sy - slope * sx) / n)

    def pass_seconds(self, rows: int) -> float | None:
        return None if self.single_step is None else self.single_step * rows**self.exponent


class Speculator:
    """Chooses a draft for each decode step and learns from what verification accepts."""

    FORGET = 0.9  # weight kept by old evidence at each pass of a drafter
    RECOVER = 0.97  # and at each step it sits out (so a drafter that stopped paying is tried again later)

    def __init__(self, drafters: list[Drafter], config: SpeculationConfig, cost: CostModel):
        self.drafters = drafters
        self.config = config
        self.cost = cost
        self.per: dict[str, DrafterStats] = {d.name: DrafterStats() for d in drafters}
        self.gates: dict[str, int] = {}  # per source follower: tokens matched in a row before it drafts
        self.stats = SpeculationStats()
        self.last: Drafter | None = None

    def propose(self, context: list[int], budget: int) -> list[int]:
        """A draft to verify after context's last token (which is not yet in the KV cache); [] = none."""
        self.last = None
        k_max = min(self.config.max_draft, budget)
        if k_max <= 0:
            return []
        for drafter in self.drafters:
            st = self.per[drafter.name]
            prepare = getattr(drafter, "prepare", None)
            if prepare is not None:
                # A source follower: copies come in long stretches, so once the output has matched the
                # source for `gate` tokens in a row a draft is right to its end far more often than an
                # i.i.d. acceptance rate suggests; draft the longest allowed then, and nothing before
                # (one-row passes cost far less per row than short verification passes).
                prepare(context)
                run = drafter.run_length
                gate = self.gates.setdefault(drafter.name, self._initial_gate(drafter.name))
                if run is None or (run < gate and not self.config.min_draft):
                    continue
                draft = drafter.draft(context, k_max)
                if draft:
                    self.last = drafter
                    return draft
                continue
            alpha = st.acceptance(self.config.prior(drafter.name))
            k = best_draft_length(alpha, self.cost.exponent, k_max, drafter.cost_per_token)
            k = max(k, min(self.config.min_draft, k_max))
            if k == 0:
                st.hits *= self.RECOVER
                st.tests *= self.RECOVER
                continue
            draft = drafter.draft(context, k)
            if draft:
                self.last = drafter
                return draft
        return []

    def _initial_gate(self, name: str) -> int:
        # a `prediction` is the client saying what the output will be: follow it from the first token
        return 0 if name == "prediction" else self.config.min_run

    def record(self, n_drafted: int, n_accepted: int) -> None:
        drafter = self.last
        if drafter is None or n_drafted == 0:
            return
        st = self.per[drafter.name]
        if drafter.name in self.gates:  # a follower whose long drafts keep failing waits for longer matches
            low = n_accepted < 0.25 * n_drafted
            gate = self.gates[drafter.name]
            self.gates[drafter.name] = (min(self.config.max_gate, max(self.config.min_run, 2 * gate)) if low
                                        else self._initial_gate(drafter.name))
        st.drafted += n_drafted
        st.accepted += n_accepted
        st.passes += 1
        st.hits = st.hits * self.FORGET + n_accepted
        st.tests = st.tests * self.FORGET + n_accepted + (1 if n_accepted < n_drafted else 0)
        s = self.stats
        s.drafted += n_drafted
        s.accepted += n_accepted
        s.passes += 1
        s.by_source[drafter.name] = {"drafted": st.drafted, "accepted": st.accepted, "passes": st.passes}
