"""The Responses API over HTTP/SSE and WebSocket, in front of the engine."""
