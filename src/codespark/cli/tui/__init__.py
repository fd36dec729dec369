"""The `codespark` terminal UI (Textual). `run_tui(args, record=None)` is what the CLI calls."""

from .app import CodesparkApp, run_tui

__all__ = ["CodesparkApp", "run_tui"]
