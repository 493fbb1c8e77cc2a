"""Shared fixtures: real SQLite files under tmp_path, a controllable clock, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import mindbank

SRC = Path(__file__).resolve().parents[1] / "src"

# Tests use the explicit hashing embedder unless they ask for the real model (it loads in ~1 s
# and embeds ~150 sentences per CPU-second): see the `minilm` fixture in test_search.py.
os.environ["MINDBANK_EMBEDDER"] = "hashing"


class FakeClock:
    """A clock the test moves by hand, so TTLs and windows are exact without sleeping."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mb(db_path: Path, clock: FakeClock) -> Iterator[mindbank.MindBank]:
    with mindbank.open(db_path, clock=clock) as bank:
        yield bank


def run_mindbank(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real `python -m mindbank` in a subprocess."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MINDBANK_")}
    full_env["MINDBANK_EMBEDDER"] = "hashing"
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mindbank", *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )
