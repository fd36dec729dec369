"""Command-line entry points: serve, model, and (in later issues) the agent, exec, bench."""
