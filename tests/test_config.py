"""Finding the database like git finds its repository; durations."""

from __future__ import annotations

from pathlib import Path

import pytest

from mindbank import ValidationError, find_db_path
from mindbank.config import parse_duration


def test_nearest_mindbank_folder_upward(tmp_path: Path) -> None:
    (tmp_path / "proj" / ".mindbank").mkdir(parents=True)
    deep = tmp_path / "proj" / "src" / "pkg"
    deep.mkdir(parents=True)
    assert find_db_path(deep, env={}) == tmp_path / "proj" / ".mindbank" / "memory.db"


def test_falls_back_to_the_current_directory(tmp_path: Path) -> None:
    assert find_db_path(tmp_path, env={}) == tmp_path / ".mindbank" / "memory.db"


def test_environment_overrides(tmp_path: Path) -> None:
    assert find_db_path(tmp_path, env={"MINDBANK_DB": "/x/y.db"}) == Path("/x/y.db")
    assert find_db_path(tmp_path, env={"MINDBANK_HOME": "/h"}) == Path("/h/memory.db")
    both = {"MINDBANK_DB": "/x/y.db", "MINDBANK_HOME": "/h"}
    assert find_db_path(tmp_path, env=both) == Path("/x/y.db")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("30m", 1800), ("1h", 3600), ("7d", 604800), ("2w", 1209600),
     ("1.5h", 5400), (12, 12)],
)  # fmt: skip
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-1h", "1y", "h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_duration(text)
