"""Benchmarks that measure a codespark server from the outside, over its public HTTP/WebSocket API.

`report` writes results (JSON + Markdown + PNG) for any benchmark; `latency` is `codespark bench latency`.
"""
