"""One real engine on the default model, shared by the engine tests that need a model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from enginekit import load_default_engine  # noqa: E402


@pytest.fixture(scope="session")
def engine():
    eng = load_default_engine()
    yield eng
    eng.close()
