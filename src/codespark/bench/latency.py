"""`codespark bench latency`: WebSocket vs stateless HTTP/SSE on the same server, in one run.

Transports, as a real client uses them:

* HTTP/SSE, stateless: every turn opens a new HTTP connection (``Connection: close``, no keep-alive pool)
  and re-sends the whole conversation (instructions, every earlier input and output item) with
  ``store: false`` and no ``previous_response_id``.
* WebSocket: one persistent connection per conversation (opened before timing starts); every turn sends
  only its new input items with ``previous_response_id``.

Both send the same prompts, the same ``max_output_tokens`` and ``temperature: 0``; repetitions alternate
the order (HTTP first, then WS first, ...) to cancel drift. Every response carries the engine's own time
(``codespark``: queued, prefill, decode) so client-observed time can be split into engine time and
everything else (connections, HTTP parsing, JSON, history rendering, the event loop): the overhead.

Metrics:

1. round-trip overhead per turn: wall time from send to the terminal event minus queued+prefill+decode,
   over multi-turn conversations with ``max_output_tokens: 1``.
2. per-token overhead: the client's mean gap between ``output_text.delta`` events minus the engine's mean
   decode step (decode_ms / decode_steps), over a long generation.
3. TTFT cold vs warm: time to the first delta for a first turn with a ~1,500-token Python file in context,
   then for a follow-up turn of the same conversation (warm KV cache); warm/cold ratio per transport.
4. agent rollout: 20+ sequential turns, each answering the previous turn with a small tool result
   (``function_call_output``); total wall time per transport.

This module talks to the server only over its public HTTP and WebSocket API. Without ``--server`` it starts
``codespark serve`` as a subprocess on a free port.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect as ws_connect

from ..cli.launcher import stop
from . import report
from .report import Panel, fmt_number, markdown_table, ratio, summarize

NAME = "latency"
DEFAULT_OUT = Path("docs/benchmarks")
TERMINAL_EVENTS = {"response.completed", "response.incomplete", "response.failed"}
OUTPUT_DELTAS = {
    "response.output_text.delta",
    "response.function_call_arguments.delta",
    "response.custom_tool_call_input.delta",
}
TRANSPORTS = ("http", "ws")
LABELS = {"http": "HTTP/SSE (stateless)", "ws": "WebSocket"}
SHORT = {"http": "HTTP", "ws": "WS"}

# The mission's targets (docs: /work/shared/docs/mission.md, "The published figures to beat").
TARGETS = {
    "round_trip_overhead": {"text": "WS <= 0.10x HTTP (-90%)", "max_ratio": 0.10},
    "per_token_overhead": {"text": "WS <= 0.50x HTTP (-50%)", "max_ratio": 0.50},
    "ttft_warm_cold": {"text": "warm <= 10% of cold", "max_ratio": 0.10},
    "rollout_wall": {"text": "WS >= 40% faster (<= 0.60x)", "max_ratio": 0.60},
}


class BenchError(RuntimeError):
    pass


@dataclass
class Plan:
    """How much of each measurement to run."""

    warmup_turns: int
    overhead_reps: int  # conversations per transport
    overhead_turns: int  # turns per conversation
    overhead_max_tokens: int
    token_reps: int
    token_max_tokens: int
    ttft_reps: int
    ttft_context_chars: int
    ttft_max_tokens: int
    rollout_reps: int
    rollout_turns: int
    rollout_max_tokens: int


FULL = Plan(
    warmup_turns=3,
    overhead_reps=8, overhead_turns=12, overhead_max_tokens=1,
    token_reps=6, token_max_tokens=96,
    ttft_reps=3, ttft_context_chars=5600, ttft_max_tokens=8,
    rollout_reps=2, rollout_turns=24, rollout_max_tokens=12,
)
QUICK = Plan(
    warmup_turns=1,
    overhead_reps=2, overhead_turns=4, overhead_max_tokens=1,
    token_reps=1, token_max_tokens=24,
    ttft_reps=1, ttft_context_chars=1400, ttft_max_tokens=4,
    rollout_reps=1, rollout_turns=4, rollout_max_tokens=8,
)


# -- one turn over either transport ------------------------------------------------------------


@dataclass
class Turn:
    wall_ms: float  # send (incl. serialising the body and, for HTTP, connecting) -> terminal event
    first_output_ms: float | None  # send -> first output delta (TTFT)
    delta_ms: list[float]  # send -> each output_text.delta
    response: dict[str, Any]
    bytes_sent: int
    bytes_received: int
    events: int
    created_ms: float | None = None  # send -> response.created (request parsed, prompt rendered, job queued)

    @property
    def engine(self) -> dict[str, Any]:
        engine = self.response.get("codespark")
        if not isinstance(engine, dict):
            raise BenchError("the server's response has no 'codespark' timing field; is this a codespark server?")
        return engine

    @property
    def engine_ms(self) -> float:
        e = self.engine
        return float(e["queued_ms"]) + float(e["prefill_ms"]) + float(e["decode_ms"])

    @property
    def overhead_ms(self) -> float:
        return self.wall_ms - self.engine_ms

    @property
    def usage(self) -> dict[str, Any]:
        return self.response.get("usage") or {}

    @property
    def cached_tokens(self) -> int:
        return int((self.usage.get("input_tokens_details") or {}).get("cached_tokens") or 0)

    def record(self) -> dict[str, Any]:
        e = self.engine
        return {
            "wall_ms": round(self.wall_ms, 3),
            "engine_ms": round(self.engine_ms, 3),
            "overhead_ms": round(self.overhead_ms, 3),
            "queued_ms": e["queued_ms"],
            "prefill_ms": e["prefill_ms"],
            "decode_ms": e["decode_ms"],
            "decode_steps": e["decode_steps"],
            "ttft_ms": None if self.first_output_ms is None else round(self.first_output_ms, 3),
            "created_ms": None if self.created_ms is None else round(self.created_ms, 3),
            "input_tokens": self.usage.get("input_tokens"),
            "cached_tokens": self.cached_tokens,
            "output_tokens": self.usage.get("output_tokens"),
            "status": self.response.get("status"),
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
            "events": self.events,
        }


class _EventClock:
    """Collects the timings of one response's events as they arrive."""

    def __init__(self, t0: float):
        self.t0 = t0
        self.first_output: float | None = None
        self.created: float | None = None
        self.deltas: list[float] = []
        self.events = 0
        self.received = 0

    def see(self, ev: dict[str, Any], size: int) -> bool:
        """Record one event; True when it is terminal."""
        now = time.perf_counter()
        self.events += 1
        self.received += size
        kind = ev.get("type")
        if kind == "response.created" and self.created is None:
            self.created = (now - self.t0) * 1000
        if kind in OUTPUT_DELTAS:
            ms = (now - self.t0) * 1000
            if self.first_output is None:
                self.first_output = ms
            if kind == "response.output_text.delta":
                self.deltas.append(ms)
        return kind in TERMINAL_EVENTS

    def turn(self, response: dict[str, Any], sent: int) -> Turn:
        wall = (time.perf_counter() - self.t0) * 1000
        return Turn(wall, self.first_output, self.deltas, response, sent, self.received, self.events, self.created)


class HttpTransport:
    """Stateless HTTP/SSE: a new connection per request, the full conversation every time."""

    name = "http"
    stateless = True

    def __init__(self, base_url: str, headers: dict[str, str], timeout: float = 900):
        self.url = base_url + "/v1/responses"
        # No keep-alive pool and `Connection: close`: every turn pays for its own TCP connection, as a
        # client that creates a new connection per request does. The client object itself is reused so
        # that its construction (SSL context and all) is not billed to the protocol.
        self.client = httpx.Client(timeout=timeout, headers=headers, limits=httpx.Limits(max_keepalive_connections=0))

    def create(self, body: dict[str, Any]) -> Turn:
        t0 = time.perf_counter()
        payload = json.dumps({**body, "stream": True}, separators=(",", ":")).encode()
        clock = _EventClock(t0)
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream", "Connection": "close"}
        response: dict[str, Any] | None = None
        with self.client.stream("POST", self.url, content=payload, headers=headers) as r:
            if r.status_code != 200:
                r.read()
                raise BenchError(f"POST /v1/responses answered {r.status_code}: {r.text[:500]}")
            for line in r.iter_lines():
                if not line.startswith("data:"):
                    continue
                ev = json.loads(line[5:])
                if clock.see(ev, len(line)):
                    response = ev["response"]
                    break
                if ev.get("type") == "error":
                    raise BenchError(f"error event over SSE: {ev}")
        if response is None:
            raise BenchError("the SSE stream ended without a terminal event")
        return clock.turn(response, len(payload))

    def close(self) -> None:
        self.client.close()


class WsTransport:
    """One persistent WebSocket connection; each turn sends only new input with previous_response_id."""

    name = "ws"
    stateless = False

    def __init__(self, ws_url: str, headers: dict[str, str], timeout: float = 900):
        t0 = time.perf_counter()
        # No per-message compression: like SSE over HTTP here, frames go as plain JSON text.
        self._stack = ExitStack()
        self.ws = self._stack.enter_context(ws_connect(ws_url, additional_headers=headers or None, compression=None,
                                                       max_size=None, open_timeout=60, close_timeout=5,
                                                       ping_interval=None, legacy=False))
        self.connect_ms = (time.perf_counter() - t0) * 1000
        self.timeout = timeout

    def create(self, body: dict[str, Any]) -> Turn:
        t0 = time.perf_counter()
        payload = json.dumps({"type": "response.create", **body}, separators=(",", ":"))
        clock = _EventClock(t0)
        self.ws.send(payload)
        while True:
            message = self.ws.recv(timeout=self.timeout)
            ev = json.loads(message)
            if ev.get("type") == "error":
                raise BenchError(f"error event over WebSocket: {ev}")
            if clock.see(ev, len(message)):
                return clock.turn(ev["response"], len(payload.encode()))

    def close(self) -> None:
        self._stack.close()


class Conversation:
    """A multi-turn conversation over one transport, kept the way that transport's clients keep it."""

    def __init__(self, transport: HttpTransport | WsTransport, base: dict[str, Any]):
        self.transport = transport
        self.base = base
        self.history: list[dict[str, Any]] = []  # stateless HTTP re-sends all of it
        self.previous_id: str | None = None
        self.last: Turn | None = None

    def send(self, new_items: list[dict[str, Any]], **overrides: Any) -> Turn:
        body = {**self.base, **overrides}
        if self.transport.stateless:
            body["input"] = self.history + new_items
        else:
            body["input"] = new_items
            if self.previous_id:
                body["previous_response_id"] = self.previous_id
        turn = self.transport.create(body)
        status = turn.response.get("status")
        if status not in ("completed", "incomplete"):
            raise BenchError(f"response ended {status}: {turn.response.get('error')}")
        self.history += new_items + list(turn.response.get("output") or [])
        self.previous_id = turn.response["id"]
        self.last = turn
        return turn


def user(text: str) -> list[dict[str, Any]]:
    return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]


# -- the server -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(base: str, proc: subprocess.Popen | None, log_path: Path | None, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            tail = log_path.read_text()[-3000:] if log_path and log_path.exists() else ""
            raise BenchError(f"the server exited with {proc.returncode}:\n{tail}")
        try:
            r = httpx.get(base + "/healthz", timeout=2)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise BenchError(f"the server at {base} did not become healthy in {timeout:.0f}s")
        time.sleep(0.2)


@contextmanager
def local_server(model: str | None, workdir: Path, timeout: float = 300) -> Iterator[str]:
    """`codespark serve` as a subprocess on a free loopback port; yields its base URL."""
    port = _free_port()
    log_path = workdir / "server.log"
    cmd = [sys.executable, "-m", "codespark.cli.main", "serve", "--port", str(port), "--store", str(workdir / "bench.sqlite3")]
    if model:
        cmd += ["--model", model]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc, log_path, timeout)
        yield base
    finally:
        stop(proc, grace=20)


def normalize_base(url: str) -> str:
    url = url.strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[:-3]
    if "://" not in url:
        url = "http://" + url
    return url


def ws_url_for(base: str) -> str:
    if base.startswith("https://"):
        return "wss://" + base[len("https://"):] + "/v1/responses"
    return "ws://" + base.split("://", 1)[1] + "/v1/responses"


# -- the measurements -------------------------------------------------------------------------


def orders(reps: int) -> Iterator[tuple[int, tuple[str, str]]]:
    """ABBA interleaving: HTTP first on even repetitions, WS first on odd ones."""
    for rep in range(reps):
        yield rep, (("http", "ws") if rep % 2 == 0 else ("ws", "http"))


def context_file(chars: int) -> tuple[str, str]:
    """A realistic Python file (the head of the stdlib's textwrap.py, cut at a line end) and its name."""
    source = Path(textwrap.__file__).read_text()
    if len(source) > chars:
        cut = source.rfind("\n", 0, chars)
        source = source[: cut + 1 if cut > 0 else chars]
    return source, "textwrap.py"


TOOLS = [
    {
        "type": "function",
        "name": "read_file",
        "description": "Read a file of the repository and return its text.",
        "parameters": {"type": "object", "properties": {"path": {"type": "string", "description": "path relative to the repository root"}}, "required": ["path"]},
    },
    {
        "type": "function",
        "name": "run_tests",
        "description": "Run the project's tests and return the summary.",
        "parameters": {"type": "object", "properties": {"pattern": {"type": "string", "description": "optional test selector"}}},
    },
]

TOOL_RESULTS = [
    ("read_file", {"path": "src/calc.py"}, "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"),
    ("run_tests", {"pattern": "tests/test_calc.py"}, "FAILED tests/test_calc.py::test_add - assert -1 == 3\n1 failed, 4 passed in 0.03s"),
    ("read_file", {"path": "tests/test_calc.py"}, "from calc import add, mul\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"),
    ("run_tests", {}, "5 passed in 0.02s"),
    ("read_file", {"path": "README.md"}, "# calc\nA tiny calculator used by the agent benchmark.\n"),
]


class Bench:
    def __init__(self, base_url: str, plan: Plan, *, model: str | None, headers: dict[str, str],
                 log: Callable[[str], None]):
        self.base = base_url
        self.ws_url = ws_url_for(base_url)
        self.plan = plan
        self.model = model
        self.headers = headers
        self.log = log
        self.http = HttpTransport(base_url, headers)
        self.load: dict[str, list[float] | None] = {}

    def close(self) -> None:
        self.http.close()

    # helpers

    def _body(self, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"temperature": 0, "store": False, **fields}
        if self.model:
            body["model"] = self.model
        return body

    @staticmethod
    def _instructions(text: str) -> str:
        # A fresh, same-length session tag up front gives every conversation its own KV-cache slot, so no
        # transport benefits from the other's cached prefix.
        return f"Session {uuid.uuid4().hex[:12]}. {text}"

    @contextmanager
    def conversation(self, transport: str, base: dict[str, Any]) -> Iterator[Conversation]:
        if transport == "http":
            yield Conversation(self.http, base)
            return
        ws = WsTransport(self.ws_url, self.headers)
        try:
            yield Conversation(ws, base)
        finally:
            ws.close()

    # 0. warm-up (discarded)

    def warmup(self) -> None:
        for transport in TRANSPORTS:
            base = self._body(instructions=self._instructions("Answer briefly."), max_output_tokens=2)
            with self.conversation(transport, base) as conv:
                for i in range(self.plan.warmup_turns):
                    conv.send(user(f"Warm-up {i}: say OK."))

    # 1. round-trip overhead

    def round_trip(self) -> list[dict[str, Any]]:
        p = self.plan
        samples: list[dict[str, Any]] = []
        for rep, order in orders(p.overhead_reps):
            for transport in order:
                base = self._body(instructions=self._instructions("You are a terse assistant. Reply with one word."),
                                  max_output_tokens=p.overhead_max_tokens)
                with self.conversation(transport, base) as conv:
                    for i in range(p.overhead_turns):
                        turn = conv.send(user(f"Turn {i + 1}: reply with the single word OK."))
                        samples.append({"transport": transport, "rep": rep, "turn": i, **turn.record()})
            done = [s["overhead_ms"] for s in samples]
            self.log(f"  round-trip rep {rep + 1}/{p.overhead_reps}: overhead so far median "
                     f"HTTP {_median(samples, 'http', 'overhead_ms')} ms, WS {_median(samples, 'ws', 'overhead_ms')} ms ({len(done)} turns)")
        return samples

    # 2. per-token overhead

    def per_token(self) -> list[dict[str, Any]]:
        p = self.plan
        samples: list[dict[str, Any]] = []
        prompt = ("Write a Python module implementing a binary search tree class with insert, delete, search, "
                  "minimum, maximum and in-order traversal methods. Give every method a docstring.")
        for rep, order in orders(p.token_reps):
            for transport in order:
                # Plain decoding (codespark's `speculative: false`): one token, hence one delta, per engine step,
                # the most events per second a transport has to carry.
                base = self._body(instructions=self._instructions("You are a coding assistant. Reply with code only."),
                                  max_output_tokens=p.token_max_tokens, speculative=False)
                with self.conversation(transport, base) as conv:
                    turn = conv.send(user(prompt))
                samples.append({"transport": transport, "rep": rep, **turn.record(), **per_token_record(turn)})
            self.log(f"  per-token rep {rep + 1}/{p.token_reps}: " + ", ".join(
                f"{SHORT[s['transport']]} {s['client_gap_ms']:.2f} ms/step seen vs {s['engine_step_ms']:.2f} ms/step in the engine"
                for s in samples[-2:]))
        return samples

    # 3. TTFT cold vs warm

    def ttft(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        p = self.plan
        source, name = context_file(p.ttft_context_chars)
        first = (f"Here is `{name}` from my project:\n\n```python\n{source}```\n\n"
                 "In one sentence, what is this module for?")
        follow_up = "Name one function defined in that file."
        samples: list[dict[str, Any]] = []
        for rep, order in orders(p.ttft_reps):
            for transport in order:
                base = self._body(instructions=self._instructions("You are a concise coding assistant."),
                                  max_output_tokens=p.ttft_max_tokens)
                with self.conversation(transport, base) as conv:
                    for phase, text in (("cold", first), ("warm", follow_up)):
                        turn = conv.send(user(text))
                        if turn.first_output_ms is None:
                            raise BenchError(f"the {phase} TTFT turn produced no output")
                        rec = turn.record()
                        engine_ttft = float(rec["queued_ms"]) + float(rec["prefill_ms"])
                        samples.append({"transport": transport, "rep": rep, "phase": phase, **rec,
                                        "engine_ttft_ms": round(engine_ttft, 3),
                                        "ttft_overhead_ms": round(turn.first_output_ms - engine_ttft, 3)})
            self.log(f"  ttft rep {rep + 1}/{p.ttft_reps}: " + ", ".join(
                f"{SHORT[s['transport']]} {s['phase']} {s['ttft_ms']:.0f} ms" for s in samples[-4:]))
        context = {"file": name, "chars": len(source),
                   "cold_input_tokens": next((s["input_tokens"] for s in samples if s["phase"] == "cold"), None)}
        return samples, context

    # 4. agent rollout

    def rollout(self) -> list[dict[str, Any]]:
        p = self.plan
        samples: list[dict[str, Any]] = []
        task = "The test tests/test_calc.py::test_add fails. Find the bug with the tools and fix it."
        for rep, order in orders(p.rollout_reps):
            for transport in order:
                base = self._body(instructions=self._instructions("You are a coding agent. Use the tools to inspect the repository."),
                                  tools=TOOLS, tool_choice="auto", parallel_tool_calls=False,
                                  max_output_tokens=p.rollout_max_tokens)
                turns: list[Turn] = []
                model_calls = 0
                with self.conversation(transport, base) as conv:
                    t0 = time.perf_counter()
                    items = user(task)
                    for i in range(p.rollout_turns):
                        turn = conv.send(items)
                        turns.append(turn)
                        name, args, output = TOOL_RESULTS[i % len(TOOL_RESULTS)]
                        calls = [o for o in turn.response.get("output") or [] if o.get("type") == "function_call"]
                        if calls:  # answer the model's own call
                            model_calls += 1
                            items = [{"type": "function_call_output", "call_id": calls[0]["call_id"], "output": output}]
                        else:  # the harness replays a scripted call and its result
                            call_id = f"call_{rep}_{i}"
                            items = [
                                {"type": "function_call", "call_id": call_id, "name": name, "arguments": json.dumps(args)},
                                {"type": "function_call_output", "call_id": call_id, "output": output},
                            ]
                    total_s = time.perf_counter() - t0
                engine_s = sum(t.engine_ms for t in turns) / 1000
                samples.append({
                    "transport": transport, "rep": rep, "turns": len(turns),
                    "total_wall_s": round(total_s, 4),
                    "engine_s": round(engine_s, 4),
                    "overhead_s": round(total_s - engine_s, 4),
                    "model_tool_calls": model_calls,
                    "output_tokens": sum(int(t.usage.get("output_tokens") or 0) for t in turns),
                    "final_input_tokens": turns[-1].usage.get("input_tokens"),
                    "bytes_sent": sum(t.bytes_sent for t in turns),
                    "turn_wall_ms": [round(t.wall_ms, 3) for t in turns],
                    "turn_engine_ms": [round(t.engine_ms, 3) for t in turns],
                })
            self.log(f"  rollout rep {rep + 1}/{p.rollout_reps}: " + ", ".join(
                f"{SHORT[s['transport']]} {s['total_wall_s']:.2f} s (engine {s['engine_s']:.2f} s)" for s in samples[-2:]))
        return samples

    def run(self) -> dict[str, Any]:
        steps = [("warmup", self.warmup), ("round_trip", self.round_trip), ("per_token", self.per_token),
                 ("ttft", self.ttft), ("rollout", self.rollout)]
        out: dict[str, Any] = {}
        for name, fn in steps:
            self.load[name] = report.load_average()
            self.log(f"{name} (load average {self.load[name]})")
            t0 = time.perf_counter()
            out[name] = fn()
            self.log(f"  {name} took {time.perf_counter() - t0:.1f} s")
        self.load["end"] = report.load_average()
        return out


def per_token_record(turn: Turn) -> dict[str, Any]:
    """Client-observed time per decode step vs the engine's own.

    The first delta leaves at the start of the first decode step and the last one in the step that finishes,
    so the client's span first -> last delta covers the engine's decode_ms; what the client sees beyond it,
    per step, is the transport's per-token overhead.
    """
    e = turn.engine
    deltas = turn.delta_ms
    steps = int(e["decode_steps"] or 0)
    if len(deltas) < 3 or steps < 2:
        raise BenchError(f"the per-token generation produced too few deltas ({len(deltas)}) or steps ({steps}) to measure")
    span = deltas[-1] - deltas[0]
    decode = float(e["decode_ms"])
    out_tokens = int(turn.usage.get("output_tokens") or 0)
    return {
        "deltas": len(deltas),
        "span_ms": round(span, 3),
        "tokens_per_step": round(out_tokens / steps, 3) if steps else None,
        "client_gap_ms": round(span / steps, 4),
        "engine_step_ms": round(decode / steps, 4),
        "overhead_per_token_ms": round((span - decode) / steps, 4),
        "gaps_ms": [round(b - a, 3) for a, b in zip(deltas, deltas[1:])],
    }


def _by(samples: list[dict[str, Any]], transport: str, key: str, **where: Any) -> list[float]:
    return [float(s[key]) for s in samples if s["transport"] == transport and all(s.get(k) == v for k, v in where.items())]


def _median(samples: list[dict[str, Any]], transport: str, key: str) -> str:
    return fmt_number(summarize(_by(samples, transport, key))["median"])


# -- summary, files ---------------------------------------------------------------------------


def summarize_results(raw: dict[str, Any]) -> dict[str, Any]:
    rt, pt, tt, ro = raw["round_trip"], raw["per_token"], raw["ttft"][0], raw["rollout"]
    summary: dict[str, Any] = {}

    s = {t: summarize(_by(rt, t, "overhead_ms")) for t in TRANSPORTS}
    summary["round_trip_overhead_ms"] = {
        **s,
        "wall_ms": {t: summarize(_by(rt, t, "wall_ms")) for t in TRANSPORTS},
        "engine_ms": {t: summarize(_by(rt, t, "engine_ms")) for t in TRANSPORTS},
        "bytes_sent": {t: summarize(_by(rt, t, "bytes_sent")) for t in TRANSPORTS},
        "send_to_created_ms": {t: summarize(_by(rt, t, "created_ms")) for t in TRANSPORTS},
        "ratio_median": ratio(s["ws"]["median"], s["http"]["median"]),
        "ratio_p90": ratio(s["ws"]["p90"], s["http"]["p90"]),
    }

    s = {t: summarize(_by(pt, t, "overhead_per_token_ms")) for t in TRANSPORTS}
    pooled = {t: summarize([g - x["engine_step_ms"] for x in pt if x["transport"] == t for g in x["gaps_ms"]]) for t in TRANSPORTS}
    summary["per_token_overhead_ms"] = {
        **s,
        "client_gap_ms": {t: summarize(_by(pt, t, "client_gap_ms")) for t in TRANSPORTS},
        "engine_step_ms": {t: summarize(_by(pt, t, "engine_step_ms")) for t in TRANSPORTS},
        "per_gap_minus_mean_step_ms": pooled,
        "ratio_median": ratio(s["ws"]["median"], s["http"]["median"]),
    }

    ttft: dict[str, Any] = {}
    for t in TRANSPORTS:
        cold = summarize(_by(tt, t, "ttft_ms", phase="cold"))
        warm = summarize(_by(tt, t, "ttft_ms", phase="warm"))
        per_rep = []
        for rep in sorted({x["rep"] for x in tt}):
            c = _by(tt, t, "ttft_ms", phase="cold", rep=rep)
            w = _by(tt, t, "ttft_ms", phase="warm", rep=rep)
            if c and w:
                per_rep.append(w[0] / c[0])
        ttft[t] = {
            "cold": cold,
            "warm": warm,
            "warm_cold_ratio": ratio(warm["median"], cold["median"]),
            "warm_cold_ratio_per_rep": [round(r, 4) for r in per_rep],
            "engine_ttft_cold_ms": summarize(_by(tt, t, "engine_ttft_ms", phase="cold")),
            "engine_ttft_warm_ms": summarize(_by(tt, t, "engine_ttft_ms", phase="warm")),
            "ttft_overhead_warm_ms": summarize(_by(tt, t, "ttft_overhead_ms", phase="warm")),
            "cached_tokens_warm": summarize(_by(tt, t, "cached_tokens", phase="warm")),
        }
    ttft["context"] = raw["ttft"][1]
    ttft["ratio_cold"] = ratio(ttft["ws"]["cold"]["median"], ttft["http"]["cold"]["median"])
    ttft["ratio_warm"] = ratio(ttft["ws"]["warm"]["median"], ttft["http"]["warm"]["median"])
    summary["ttft"] = ttft

    wall = {t: summarize(_by(ro, t, "total_wall_s")) for t in TRANSPORTS}
    summary["rollout"] = {
        "turns": ro[0]["turns"] if ro else None,
        "total_wall_s": wall,
        "engine_s": {t: summarize(_by(ro, t, "engine_s")) for t in TRANSPORTS},
        "overhead_s": {t: summarize(_by(ro, t, "overhead_s")) for t in TRANSPORTS},
        "bytes_sent": {t: summarize(_by(ro, t, "bytes_sent")) for t in TRANSPORTS},
        "ratio_wall": ratio(wall["ws"]["median"], wall["http"]["median"]),
        "ratio_overhead": ratio(summarize(_by(ro, "ws", "overhead_s"))["median"], summarize(_by(ro, "http", "overhead_s"))["median"]),
    }
    return summary


def _met(r: float | None, max_ratio: float, baseline: float | None = 1.0) -> str:
    if baseline is not None and baseline <= 0:
        return "n/a (HTTP overhead <= 0)"
    if r is None:
        return "n/a"
    return "yes" if r <= max_ratio else "no"


def _x(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}x"


def _pct(r: float | None) -> str:
    return "n/a" if r is None else f"{r * 100:.1f}%"


def table_rows(summary: dict[str, Any]) -> list[list[str]]:
    rt, pt, tt, ro = summary["round_trip_overhead_ms"], summary["per_token_overhead_ms"], summary["ttft"], summary["rollout"]
    ms = lambda v: fmt_number(v, "ms")  # noqa: E731
    rows = [
        ["Round-trip overhead per turn (median)", ms(rt["http"]["median"]), ms(rt["ws"]["median"]), _x(rt["ratio_median"]),
         TARGETS["round_trip_overhead"]["text"], _met(rt["ratio_median"], TARGETS["round_trip_overhead"]["max_ratio"], rt["http"]["median"])],
        ["Round-trip overhead per turn (p90)", ms(rt["http"]["p90"]), ms(rt["ws"]["p90"]), _x(rt["ratio_p90"]),
         TARGETS["round_trip_overhead"]["text"], _met(rt["ratio_p90"], TARGETS["round_trip_overhead"]["max_ratio"], rt["http"]["p90"])],
        ["Per-token overhead (median)", ms(pt["http"]["median"]), ms(pt["ws"]["median"]), _x(pt["ratio_median"]),
         TARGETS["per_token_overhead"]["text"], _met(pt["ratio_median"], TARGETS["per_token_overhead"]["max_ratio"], pt["http"]["median"])],
        ["Inter-delta gap seen by client / engine step (median)",
         f"{ms(pt['client_gap_ms']['http']['median'])} / {ms(pt['engine_step_ms']['http']['median'])}",
         f"{ms(pt['client_gap_ms']['ws']['median'])} / {ms(pt['engine_step_ms']['ws']['median'])}", "", "", ""],
        [f"TTFT cold, {tt['context'].get('cold_input_tokens')}-token context (median)", ms(tt["http"]["cold"]["median"]),
         ms(tt["ws"]["cold"]["median"]), _x(tt["ratio_cold"]), "", ""],
        ["TTFT warm follow-up, same conversation (median)", ms(tt["http"]["warm"]["median"]), ms(tt["ws"]["warm"]["median"]),
         _x(tt["ratio_warm"]), "", ""],
        ["TTFT warm / cold", _pct(tt["http"]["warm_cold_ratio"]), _pct(tt["ws"]["warm_cold_ratio"]), "",
         TARGETS["ttft_warm_cold"]["text"],
         f"WS {_met(tt['ws']['warm_cold_ratio'], 0.10)}, HTTP {_met(tt['http']['warm_cold_ratio'], 0.10)}"],
        [f"Agent rollout, {ro['turns']} turns: total wall (median)", fmt_number(ro["total_wall_s"]["http"]["median"], "s"),
         fmt_number(ro["total_wall_s"]["ws"]["median"], "s"), _x(ro["ratio_wall"]),
         TARGETS["rollout_wall"]["text"], _met(ro["ratio_wall"], TARGETS["rollout_wall"]["max_ratio"])],
        ["Agent rollout: wall minus engine time (median)", fmt_number(ro["overhead_s"]["http"]["median"], "s"),
         fmt_number(ro["overhead_s"]["ws"]["median"], "s"), _x(ro["ratio_overhead"]), "", ""],
    ]
    return rows


HEADERS = ["Metric", "HTTP/SSE (stateless)", "WebSocket", "WS/HTTP", "Target (mission.md)", "Met?"]


def markdown(result: dict[str, Any]) -> str:
    s, m, p = result["summary"], result["machine"], result["plan"]
    table = markdown_table(HEADERS, table_rows(s))
    rt = s["round_trip_overhead_ms"]
    lines = [
        "# Latency: WebSocket vs stateless HTTP/SSE",
        "",
        f"Measured by `codespark bench latency{' --quick' if result['quick'] else ''}` on {m['date']}: "
        f"{m['cpu_model']}, {m['cpu_cores']} cores, Python {m['python']}, llama-cpp-python {m['llama_cpp_python']}, "
        f"model `{result['server'].get('model')}`. Same server, same prompts, temperature 0, repetitions interleaved "
        "(ABBA).",
        "",
        table,
        "",
        "How each number is taken:",
        "",
        "- **HTTP/SSE (stateless)**: a new TCP connection per turn (`Connection: close`, no keep-alive), the whole "
        "conversation re-sent each turn, `store: false`, no `previous_response_id`. **WebSocket**: one persistent "
        "connection per conversation (opened before timing), each turn sends only its new input with "
        "`previous_response_id`.",
        f"- **Round-trip overhead**: client wall time from serialising the request to the terminal event, minus the "
        f"engine's own queued+prefill+decode time (the response's `codespark` field); {p['overhead_reps']} "
        f"conversations x {p['overhead_turns']} turns per transport, `max_output_tokens: {p['overhead_max_tokens']}` "
        f"({rt['http']['n']} + {rt['ws']['n']} turns). Median client wall per turn: HTTP "
        f"{fmt_number(rt['wall_ms']['http']['median'], 'ms')}, WS {fmt_number(rt['wall_ms']['ws']['median'], 'ms')}; "
        f"median bytes sent per turn: HTTP {fmt_number(rt['bytes_sent']['http']['median'], digits=0)}, WS "
        f"{fmt_number(rt['bytes_sent']['ws']['median'], digits=0)}; median send -> `response.created` (request "
        f"parsed, prompt rendered and tokenized, job queued): HTTP {fmt_number(rt['send_to_created_ms']['http']['median'], 'ms')}, "
        f"WS {fmt_number(rt['send_to_created_ms']['ws']['median'], 'ms')}.",
        f"- **Per-token overhead**: per response, ((last delta - first delta) as seen by the client - decode_ms) / "
        f"decode_steps, i.e. the client's time per decode step minus the engine's; plain decoding (`speculative: false`, "
        f"one token per step); {p['token_reps']} generations of {p['token_max_tokens']} tokens per transport. "
        "Values at or near zero mean each delta reached the client as fast as the engine produced the next one "
        "(the transport's work overlaps decoding); a WS/HTTP ratio of two near-zero numbers is noise, not a result.",
        f"- **TTFT**: send to the first `response.output_text.delta`; cold = first turn with the head of the stdlib's "
        f"`textwrap.py` ({s['ttft']['context']['chars']} chars) in the input, warm = a one-line follow-up in the same "
        f"conversation (KV cache warm; stateless HTTP benefits from the server's prefix cache too); {p['ttft_reps']} "
        "conversations per transport.",
        f"- **Agent rollout**: {p['rollout_turns']} sequential turns with two function tools; each turn after the first "
        "sends a small `function_call_output` (answering the model's call, or a scripted call when the model made none), "
        f"`max_output_tokens: {p['rollout_max_tokens']}`; {p['rollout_reps']} rollouts per transport.",
        "- Load average (1/5/15 min) at the start of each phase: "
        + "; ".join(f"{k} {v}" for k, v in result["load_average"].items()) + ". "
        + result["machine"].get("note", ""),
        "",
        "Raw samples: `latency.json`; chart: `latency.png`.",
    ]
    return "\n".join(lines)


def panels(summary: dict[str, Any]) -> list[Panel]:
    rt, pt, tt, ro = summary["round_trip_overhead_ms"], summary["per_token_overhead_ms"], summary["ttft"], summary["rollout"]
    labels = [LABELS[t] for t in TRANSPORTS]

    def med(d: dict[str, Any], t: str) -> float | None:
        return d[t]["median"]

    def whisker(d: dict[str, Any], t: str) -> float | None:
        if d[t]["p90"] is None or d[t]["median"] is None:
            return None
        return d[t]["p90"] - d[t]["median"]

    warm_note = f"warm/cold: HTTP {_pct(tt['http']['warm_cold_ratio'])}, WS {_pct(tt['ws']['warm_cold_ratio'])}"
    if ro["ratio_wall"] is None:
        speed = ""
    elif ro["ratio_wall"] <= 1:
        speed = f" ({(1 - ro['ratio_wall']) * 100:.1f}% faster)"
    else:
        speed = f" ({(ro['ratio_wall'] - 1) * 100:.1f}% slower)"
    return [
        Panel("Round-trip overhead per turn\n(median, whisker to p90)", "ms", labels, [med(rt, t) for t in TRANSPORTS],
              f"WS/HTTP = {_x(rt['ratio_median'])}", [whisker(rt, t) for t in TRANSPORTS]),
        Panel("Per-token overhead\n(client gap - engine step, median)", "ms / token", labels, [med(pt, t) for t in TRANSPORTS],
              f"WS/HTTP = {_x(pt['ratio_median'])}"),
        Panel(f"TTFT cold\n({tt['context'].get('cold_input_tokens')}-token context, median)", "ms", labels,
              [tt[t]["cold"]["median"] for t in TRANSPORTS], f"WS/HTTP = {_x(tt['ratio_cold'])}"),
        Panel("TTFT warm follow-up\n(same conversation, median)", "ms", labels, [tt[t]["warm"]["median"] for t in TRANSPORTS],
              warm_note),
        Panel(f"Agent rollout, {ro['turns']} turns\n(total wall, median)", "s", labels,
              [ro["total_wall_s"][t]["median"] for t in TRANSPORTS],
              f"WS/HTTP = {_x(ro['ratio_wall'])}{speed}"),
        Panel(f"Agent rollout, {ro['turns']} turns\n(wall - engine time, median)", "s", labels,
              [ro["overhead_s"][t]["median"] for t in TRANSPORTS], f"WS/HTTP = {_x(ro['ratio_overhead'])}"),
    ]


def write_outputs(result: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    out_dir = Path(out_dir)
    paths = {
        "json": report.write_json(out_dir / f"{NAME}.json", result),
        "md": report.write_text(out_dir / f"{NAME}.md", markdown(result)),
        "png": report.bar_chart(out_dir / f"{NAME}.png", panels(result["summary"]),
                                title=f"codespark latency: WebSocket vs stateless HTTP/SSE ({result['machine']['cpu_model']}, "
                                      f"{result['machine']['cpu_cores']} cores{', quick run' if result['quick'] else ''})"),
    }
    return paths


# -- entry point ------------------------------------------------------------------------------


@dataclass
class Options:
    server: str | None = None
    model: str | None = None
    quick: bool = False
    out: Path = DEFAULT_OUT
    api_key: str | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _server_info(base: str, headers: dict[str, str], model: str | None) -> dict[str, Any]:
    info: dict[str, Any] = {"url": base}
    try:
        r = httpx.get(base + "/v1/models", headers=headers, timeout=10)
        models = r.json().get("data", []) if r.status_code == 200 else []
        info["models"] = [{"id": m.get("id"), "context_window": m.get("context_window")} for m in models]
        info["model"] = model or (models[0]["id"] if models else None)
    except (httpx.HTTPError, ValueError):
        info["model"] = model
    return info


def run(opts: Options, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the benchmark, write NAME.json/.md/.png into opts.out; returns the result dict."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    plan = QUICK if opts.quick else FULL
    key = opts.api_key or os.environ.get("CODESPARK_API_KEY") or ""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    started = time.perf_counter()
    machine = report.machine_info({
        "note": opts.note or "Shared machine: other processes (builds, test suites) may have been using the CPU "
                "during the run; see load_average. Client, server and engine share the same cores.",
    })
    workdir = Path(tempfile.mkdtemp(prefix="codespark-bench-"))
    try:
        with (_existing(opts.server) if opts.server else local_server(opts.model, workdir)) as base:
            log(f"codespark bench latency: server {base}{' (started here)' if not opts.server else ''}, "
                f"{'quick' if opts.quick else 'full'} run")
            server = _server_info(base, headers, opts.model)
            server["started_by_bench"] = not opts.server
            bench = Bench(base, plan, model=opts.model, headers=headers, log=log)
            try:
                raw = bench.run()
            except (httpx.HTTPError, WebSocketException, OSError, ValueError, KeyError) as exc:
                raise BenchError(f"talking to {base} failed: {type(exc).__name__}: {exc}") from exc
            finally:
                bench.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result: dict[str, Any] = {
        "benchmark": NAME,
        "schema_version": 1,
        "quick": opts.quick,
        "duration_s": round(time.perf_counter() - started, 1),
        "machine": machine,
        "server": server,
        "plan": asdict(plan),
        "targets": TARGETS,
        "load_average": bench.load,
        "method": {
            "http": "stateless: new TCP connection per turn (Connection: close, no keep-alive pool), full conversation "
                    "re-sent each turn, stream=true, store=false, no previous_response_id",
            "ws": "one persistent WebSocket per conversation (opened before timing, no compression); each turn sends "
                  "only new input items with previous_response_id, store=false",
            "timing": "time.perf_counter on the client, from serialising the request to the terminal event; engine time "
                      "is the response's codespark.queued_ms + prefill_ms + decode_ms",
            "interleaving": "repetition r runs HTTP then WS when r is even, WS then HTTP when odd",
            "isolation": "each conversation starts its instructions with a fresh random session tag so that it gets its "
                         "own KV-cache slot",
            "temperature": 0,
        },
        "summary": None,
        "samples": {"round_trip": raw["round_trip"], "per_token": raw["per_token"], "ttft": raw["ttft"][0],
                    "rollout": raw["rollout"]},
        **opts.extra,
    }
    result["summary"] = summarize_results(raw)
    result["table"] = {"headers": HEADERS, "rows": table_rows(result["summary"])}
    paths = write_outputs(result, opts.out)
    log("wrote " + ", ".join(str(p) for p in paths.values()))
    return result


@contextmanager
def _existing(url: str) -> Iterator[str]:
    base = normalize_base(url)
    _wait_healthy(base, None, None, timeout=30)
    yield base
