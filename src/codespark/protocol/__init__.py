"""The Responses API wire protocol, shared by the server (api) and its clients (agent, bench)."""
