"""``mindbank sync``: this local memory as a replica of a shared PostgreSQL one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

import mindbank
from mindbank.cli.output import db_option, emit_json, json_option

__all__ = ["sync"]


@click.command()
@click.option(
    "--server",
    envvar="MINDBANK_SYNC_SERVER",
    show_envvar=True,
    help="The shared memory's postgresql:// URL (a tenant's).",
)
@click.option(
    "--watch",
    is_flag=True,
    help="Keep syncing (Ctrl-C): at once when another agent writes (the server's change "
    "feed), else every --interval seconds.",
)
@click.option(
    "--interval", type=float, default=5.0, show_default=True, help="Most seconds between."
)
@click.option("--rounds", type=int, default=None, help="With --watch: stop after N rounds.")
@db_option
@json_option
def sync(
    server: str | None,
    watch: bool,
    interval: float,
    rounds: int | None,
    db: Path | None,
    as_json: bool,
) -> None:
    """Sync the local memory with a shared one: local changes are queued and pushed (each
    kept once by the server), others' changes pulled and merged (last writer wins by hybrid
    logical clock, tags as observed-remove sets, access counts summed, deletes as tombstones).
    While the server is away, writes stay local and queue up; see `mindbank db status`.

    \b
    Examples:
      mindbank sync --server postgresql://alice:TOKEN@db.example/mindbank
      mindbank sync --watch --interval 10      # with MINDBANK_SYNC_SERVER set
    """
    with mindbank.open(db) as mb:
        if not watch:
            _show(mb.sync(server).to_dict(), as_json)
            return
        mb.sync_watch(server, interval=interval, rounds=rounds,
                      on_round=lambda r: _show(r.to_dict(), as_json))  # fmt: skip


def _show(r: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(r)
        return
    line = (f"captured {r['captured']}, pushed {r['pushed']}, pulled {r['pulled']} operations; "
            f"changed {r['local_written']} entries here, {r['server_written']} on the server; "
            f"queue {r['queue']}, pending {r['pending']}, breaker {r['breaker']} "
            f"({r['seconds']:.2f} s)")  # fmt: skip
    click.echo(line)
    if r["clamped"]:
        click.echo(f"warning: this clock is {r['skew']:.0f} s ahead of the server's: "
                   f"{r['clamped']} operations were stamped back to the server's time "
                   "(plus the allowed skew); set this machine's clock right", err=True)  # fmt: skip
    if r["error"]:
        click.echo(f"server: {r['error']}", err=True)
