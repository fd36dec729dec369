"""GET /metrics on the real server: Prometheus text that counts what clients really did, over every transport.

The server is shared by the whole test session, so every check compares a scrape before with one after.
"""

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

MODEL = "qwen2.5-coder-0.5b"


def scrape(base_url) -> dict[tuple[str, frozenset], float]:
    resp = httpx.get(base_url + "/metrics", timeout=30)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before, after, name, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_responses_are_counted_by_transport_tier_and_status(base_url, client):
    before = scrape(base_url)
    http = client.responses.create(model=MODEL, input="Write a haiku about caches.", max_output_tokens=8,
                                   service_tier="flex")
    sse = list(client.responses.create(model=MODEL, input="Say hi.", max_output_tokens=8, stream=True))
    with client.responses.connect() as conn:
        conn.response.create(model=MODEL, input="def add(a, b):", max_output_tokens=8)
        ws_final = next(ev for ev in conn if ev.type in ("response.completed", "response.incomplete", "response.failed"))
        open_ws = scrape(base_url)
    after = scrape(base_url)

    statuses = {"http": (http.status, "background"), "sse": (sse[-1].response.status, "realtime"),
                "websocket": (ws_final.response.status, "realtime")}
    for transport, (status, tier) in statuses.items():
        labels = {"model": MODEL, "tier": tier, "transport": transport}
        assert delta(before, after, "codespark_responses_total", **labels, status=status) == 1, transport
        assert delta(before, after, "codespark_time_to_first_token_seconds_count", **labels) == 1, transport
        assert delta(before, after, "codespark_response_duration_seconds_count", **labels) == 1, transport
        ttft = delta(before, after, "codespark_time_to_first_token_seconds_sum", **labels)
        duration = delta(before, after, "codespark_response_duration_seconds_sum", **labels)
        assert 0 < ttft <= duration, transport

    # the engine's own totals cover at least these three replies
    produced = http.usage.output_tokens + sse[-1].response.usage.output_tokens + ws_final.response.usage.output_tokens
    assert delta(before, after, "codespark_engine_output_tokens_total", model=MODEL) >= produced
    assert delta(before, after, "codespark_engine_generations_total", model=MODEL) >= 3
    assert value(after, "codespark_engine_warm_slots", model=MODEL) >= 1
    assert value(after, "codespark_engine_kv_bytes", model=MODEL) > 0
    assert value(after, "codespark_engine_waiting_generations", model=MODEL) == 0

    # the gauge saw the connection, and lets go of it once it closes
    assert value(open_ws, "codespark_websocket_connections") >= 1
    deadline = time.monotonic() + 10
    while value(scrape(base_url), "codespark_websocket_connections") != value(open_ws, "codespark_websocket_connections") - 1:
        assert time.monotonic() < deadline, "the closed WebSocket is still counted"
        time.sleep(0.1)


def test_drafted_tokens_are_counted(base_url, client):
    source = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(12))
    before = scrape(base_url)
    r = client.responses.create(model=MODEL, max_output_tokens=120,
                                input=f"Rename f3 to g3. Reply with the whole file.\n\n```python\n{source}```")
    after = scrape(base_url)
    details = r.usage.output_tokens_details
    accepted = delta(before, after, "codespark_engine_draft_tokens_total", model=MODEL, outcome="accepted")
    rejected = delta(before, after, "codespark_engine_draft_tokens_total", model=MODEL, outcome="rejected")
    assert accepted == details.accepted_prediction_tokens > 0
    assert rejected == details.rejected_prediction_tokens


def test_refused_requests_are_counted_by_code(base_url):
    before = scrape(base_url)
    bad = httpx.post(base_url + "/v1/responses", content=b'{"model": ', headers={"content-type": "application/json"})
    assert bad.status_code == 400
    # a client that wants another API learns what is served here instead of a bare "Not Found"
    other = httpx.post(base_url + "/v1/embeddings", json={"model": MODEL, "input": "hi"})
    assert other.status_code == 404
    assert "POST /v1/responses" in other.json()["error"]["message"]
    after = scrape(base_url)
    assert delta(before, after, "codespark_request_errors_total", transport="http", code="invalid_json") == 1
    assert delta(before, after, "codespark_request_errors_total", transport="http", code="not_found") == 1
