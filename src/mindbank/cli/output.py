"""Output for people (tables, short lines) and machines (``--json``). rich loads only when a
table is drawn, so commands that print one value start fast."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from mindbank.errors import MindbankError

__all__ = [
    "db_option",
    "emit_json",
    "fail",
    "fmt_time",
    "handle_errors",
    "json_option",
    "read_json_config",
    "require_matplotlib",
    "table",
    "write_json_atomic",
]

F = TypeVar("F", bound=Callable[..., Any])


class DbParam(click.ParamType):  # type: ignore[type-arg]
    """A database file (a Path), or a ``postgresql://`` URL (kept as text)."""

    name = "PATH|URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.startswith(("postgresql://", "postgres://")):
            return value
        return click.Path(dir_okay=False, path_type=Path).convert(value, param, ctx)


def db_option(f: F) -> F:
    """``--db PATH|URL`` (env ``MINDBANK_DB``) on a command."""
    return click.option(
        "--db",
        "db",
        type=DbParam(),
        envvar="MINDBANK_DB",
        show_envvar=True,
        help="Database file (default: .mindbank/memory.db, found upward like git), or a "
        "postgresql:// URL.",
    )(f)


def json_option(f: F) -> F:
    """``--json`` on a command."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")(f)


def emit_json(obj: Any) -> None:
    """Print one JSON document to stdout."""
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=_default))


def _default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, tuple | set):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def fmt_time(t: float | None) -> str:
    """A Unix time as ``YYYY-MM-DD HH:MM:SS`` UTC, or ``-``."""
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Draw a table for people."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, show_edge=False, header_style="bold")
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    Console().print(t)


def fail(message: str, code: int = 1) -> None:
    """One clear line on stderr and a non-zero exit."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextmanager
def handle_errors() -> Iterator[None]:
    """Turn mindbank's errors (and what only hostile input causes: text that is not UTF-8,
    JSON nested thousands deep, numbers out of range) into one line on stderr and exit 1."""
    try:
        yield
    except MindbankError as exc:
        fail(str(exc))
    except click.Abort:  # a confirmation prompt that got no answer (or Ctrl-C at it)
        fail("cancelled: nothing was changed (no answer to the question; --yes answers it)")
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
    # what only hostile input reaches: the input named, never a traceback
    except UnicodeError:
        fail("the input is not valid UTF-8 text (an argument, a file or standard input)")
    except RecursionError:
        fail("the input is nested too deeply (JSON nested thousands of levels)")
    except OverflowError as exc:
        fail(f"a number in the input is out of range ({exc})")


def read_json_config(path: Path, section: str, what: str) -> dict[str, Any]:
    """A JSON settings file as a dict ({} when missing); fails, leaving the file untouched,
    if it is not JSON or its ``section`` is not an object."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except json.JSONDecodeError as exc:
        fail(f"{path} is not valid JSON ({exc.msg}); it was left untouched")
    if not isinstance(data, dict) or not isinstance(data.get(section, {}), dict):
        fail(f"{path} does not look like {what}; it was left untouched")
    config: dict[str, Any] = data
    return config


def require_matplotlib(option: str) -> None:
    """Fail with one clear line if matplotlib (the plot extra) is missing."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        fail(f"{option} needs matplotlib: pip install 'mindbank[plot]'")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
