"""Prometheus metrics for GET /metrics.

Two kinds, kept apart so nothing is counted twice:
- per response, observed by the API when a response ends: how long the client waited for its first output
  and for the whole response, and how it ended, by model, tier and transport;
- the engines' own state and totals (queue, warm sessions, KV memory, tokens, drafts, preemptions), read from
  `Engine.stats()` at scrape time.
"""

from __future__ import annotations

from typing import Iterable

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram,
                               disable_created_metrics, generate_latest)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ..engine import Engine

# Seconds. Cold prefills of long prompts take tens of seconds on a small CPU; warm turns take milliseconds.
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160)
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640)
RESPONSE_LABELS = ("model", "tier", "transport")

CONTENT_TYPE = CONTENT_TYPE_LATEST

# the *_created series (a timestamp per label set) double the output and tell an operator nothing here
disable_created_metrics()


class ServerMetrics:
    def __init__(self, engines: dict[str, Engine]):
        # a registry of our own: several apps in one process (tests, benchmarks) must not collide
        self.registry = CollectorRegistry()
        r = self.registry
        self.responses = Counter("codespark_responses", "Responses ended, by final status.", (*RESPONSE_LABELS, "status"),
                                 registry=r)
        self.ttft = Histogram("codespark_time_to_first_token_seconds",
                              "From accepting a request to its first output (text or tool call).", RESPONSE_LABELS,
                              buckets=TTFT_BUCKETS, registry=r)
        self.duration = Histogram("codespark_response_duration_seconds", "From accepting a request to its last event.",
                                  RESPONSE_LABELS, buckets=DURATION_BUCKETS, registry=r)
        self.queued = Histogram("codespark_queue_seconds", "Time a generation waited for the engine before it started.",
                                ("model", "tier"), buckets=TTFT_BUCKETS, registry=r)
        self.errors = Counter("codespark_request_errors", "Requests refused with an error object, by error code.",
                              ("transport", "code"), registry=r)
        self.websocket_connections = Gauge("codespark_websocket_connections", "Open WebSocket connections.", registry=r)
        r.register(EngineCollector(engines))

    def observe(self, *, model: str, tier: str, transport: str, status: str, ttft_s: float | None, duration_s: float,
                queued_s: float) -> None:
        labels = (model, tier, transport)
        self.responses.labels(*labels, status).inc()
        if ttft_s is not None:
            self.ttft.labels(*labels).observe(ttft_s)
        self.duration.labels(*labels).observe(duration_s)
        self.queued.labels(model, tier).observe(queued_s)

    def error(self, transport: str, code: str | None) -> None:
        self.errors.labels(transport, code or "none").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class EngineCollector(Collector):
    """Reads each engine's stats when scraped; the engine keeps the only copy of its counters."""

    GAUGES = {
        "active": ("codespark_engine_active_generations", "Generations started and not finished (holding a warm slot)."),
        "waiting": ("codespark_engine_waiting_generations", "Generations queued for the engine."),
        "slots": ("codespark_engine_warm_slots", "Conversations kept warm at once (the LRU limit)."),
        "cached_tokens": ("codespark_engine_cached_tokens", "Tokens held in the KV caches of warm conversations."),
        "kv_cells": ("codespark_engine_kv_cells", "KV cells allocated for all warm conversations together."),
        "kv_bytes": ("codespark_engine_kv_bytes", "Memory those KV cells take."),
    }
    COUNTERS = {
        "generations": ("codespark_engine_generations", "Generations finished."),
        "output_tokens": ("codespark_engine_output_tokens", "Tokens generated."),
        "preemptions": ("codespark_engine_preemptions", "Background passes stopped for real-time work (they run again)."),
        "evictions": ("codespark_engine_evictions", "Warm conversations evicted to make room (LRU)."),
    }

    def __init__(self, engines: dict[str, Engine]):
        self.engines = engines

    def collect(self) -> Iterable:
        stats = {name: engine.stats() for name, engine in self.engines.items()}
        for key, (name, doc) in self.GAUGES.items():
            family = GaugeMetricFamily(name, doc, labels=["model"])
            for model, s in stats.items():
                family.add_metric([model], s[key])
            yield family
        for key, (name, doc) in self.COUNTERS.items():
            family = CounterMetricFamily(name, doc, labels=["model"])
            for model, s in stats.items():
                family.add_metric([model], s[key])
            yield family
        drafts = CounterMetricFamily("codespark_engine_draft_tokens",
                                     "Draft tokens verified by the model, by outcome (speculative decoding).",
                                     labels=["model", "outcome"])
        for model, s in stats.items():
            drafts.add_metric([model, "accepted"], s["accepted_prediction_tokens"])
            drafts.add_metric([model, "rejected"], s["rejected_prediction_tokens"])
        yield drafts
