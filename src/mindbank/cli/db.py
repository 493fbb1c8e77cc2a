"""``mindbank db ...``: schema and care of the database file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

import mindbank
from mindbank.cli.output import db_option, emit_json, fail, fmt_time, json_option, table

__all__ = ["db"]


@click.group("db")
def db() -> None:
    """Migrate, inspect, check and optimize the database file."""


@db.command()
@db_option
@json_option
def migrate(db: Path | None, as_json: bool) -> None:
    """Apply pending schema migrations (opening a database does this too)."""
    with mindbank.open(db) as mb:
        applied = mb.migrate()
        version = max((m.version for m in mb.migrations() if m.applied_at), default=0)
    if as_json:
        emit_json({"applied": applied, "schema_version": version})
    elif applied:
        click.echo(f"applied migrations {applied}; schema version {version}")
    else:
        click.echo(f"schema is current (version {version})")


@db.command()
@db_option
@json_option
def status(db: Path | None, as_json: bool) -> None:
    """Show the database path, its size, the migrations applied and, for a replica, its sync
    state (queue, circuit breaker, lag).

    \b
    Example:
      mindbank db status --json
    """
    with mindbank.open(db) as mb:
        migrations = mb.migrations()
        s = mb.stats()
        sync = mb.sync_status()
    if as_json:
        emit_json(
            {
                "path": s.path,
                "file_bytes": s.file_bytes,
                "wal_bytes": s.wal_bytes,
                "schema_version": s.schema_version,
                "entries": sum(s.namespaces.values()),
                "migrations": migrations,
                "sync": None if sync is None else sync.to_dict(),
            }
        )
        return
    click.echo(f"database: {s.path}")
    click.echo(f"size: {s.file_bytes:,} bytes (+{s.wal_bytes:,} WAL)")
    click.echo(f"entries: {sum(s.namespaces.values()):,} in {len(s.namespaces)} namespaces")
    if sync is not None:
        lag = "unknown" if sync.lag is None else f"{sync.lag:,} operations"
        skew = "" if sync.skew is None else f", clock {sync.skew:+.1f} s from the server's"
        click.echo(f"replica {sync.replica} of {sync.server}: queue {sync.queue:,}, "
                   f"pending {sync.pending:,}, breaker {sync.breaker} ({sync.failures} failed "
                   f"rounds), lag {lag}, last sync {fmt_time(sync.last_sync)}{skew}")  # fmt: skip
        if sync.last_error:
            click.echo(f"last error: {sync.last_error}")
    table(
        "migrations",
        ["version", "name", "applied (UTC)", "sha256"],
        [(m.version, m.name, fmt_time(m.applied_at), m.sha256[:12]) for m in migrations],
    )


@db.command()
@db_option
@json_option
def check(db: Path | None, as_json: bool) -> None:
    """Check integrity, foreign keys, migration hashes and the witness chain (exit 1 on any
    problem)."""
    with mindbank.open(db) as mb:
        report = mb.check()
    if as_json:
        emit_json(report)
    else:
        for problem in report.problems:
            click.echo(problem)
    if not report.ok:
        fail(f"{len(report.problems)} problems found")
    if not as_json:
        click.echo(f"ok (schema version {report.schema_version})")


@db.command()
@db_option
@json_option
def verify(db: Path | None, as_json: bool) -> None:
    """Verify the witness chain: every link, and every memory entry and ReasoningBank item
    against the chain's record of it (exit 1 if anything was changed, deleted or inserted
    outside mindbank, or the chain was edited).

    \b
    Examples:
      mindbank db verify
      mindbank db verify --json
    """
    with mindbank.open(db) as mb:
        report = mb.verify()
    if as_json:
        emit_json(report)
    else:
        for problem in report.problems():
            click.echo(problem)
    if not report.ok:
        fail(f"witness chain: {len(report.problems())} problems")
    if not as_json:
        click.echo(f"ok: {report.records} records, head {report.head_seq} {report.head}")


@db.command()
@db_option
@json_option
def head(db: Path | None, as_json: bool) -> None:
    """Print the witness chain's head (record number and digest) to anchor elsewhere.

    \b
    Example:
      mindbank db head >> ~/anchors.txt
    """
    with mindbank.open(db) as mb:
        seq, digest = mb.witness_head()
    if as_json:
        emit_json({"seq": seq, "digest": digest, "database": str(mb.path)})
    else:
        click.echo(f"{seq} {digest}")


@db.command()
@db_option
def optimize(db: Path | None) -> None:
    """Refresh the query planner's statistics and checkpoint the WAL."""
    with mindbank.open(db) as mb:
        mb.optimize()
    click.echo("optimized")


@db.command()
@db_option
@json_option
def vacuum(db: Path | None, as_json: bool) -> None:
    """Rebuild the file to reclaim the space of deleted rows."""
    with mindbank.open(db) as mb:
        before, after = mb.vacuum()
    if as_json:
        emit_json({"bytes_before": before, "bytes_after": after})
    else:
        click.echo(f"{before:,} -> {after:,} bytes")


@db.group()
def tenant() -> None:
    """Tenants of a shared PostgreSQL database: each is a role that sees only its own rows.

    \b
    Examples:
      mindbank db tenant create alice --db postgresql://admin@host/mindbank
      mindbank db tenant token alice reviewer --db postgresql://admin@host/mindbank
      mindbank db tenant drop alice --yes --db postgresql://admin@host/mindbank
    """


def _admin_url(db: Any) -> str:
    from mindbank.store.postgres import is_url

    if not is_url(db):
        fail("tenants live in a PostgreSQL database: give --db postgresql://ADMIN@HOST/DB")
    return str(db)


@tenant.command("create")
@click.argument("name")
@db_option
@json_option
def tenant_create(name: str, db: Any, as_json: bool) -> None:
    """Create tenant NAME and print its token and the URL its agents open.

    \b
    Example:
      mindbank db tenant create alice --db postgresql://admin@host/mindbank
    """
    from mindbank.store.postgres import agent_url, create_tenant

    url = _admin_url(db)
    token = create_tenant(url, name)
    tenant_url = agent_url(url, name, token)
    if as_json:
        emit_json({"tenant": name, "token": token, "url": tenant_url})
        return
    click.echo(f"tenant {name} created; its agents open:\n{tenant_url}")
    click.echo("keep the token secret: it is the role's password")


@tenant.command("token")
@click.argument("name")
@click.argument("agent")
@db_option
@json_option
def tenant_token(name: str, agent: str, db: Any, as_json: bool) -> None:
    """Give AGENT of tenant NAME a token of its own: it sees what the tenant sees, writes
    the change log as itself, and is revoked alone.

    \b
    Example:
      mindbank db tenant token alice reviewer --db postgresql://admin@host/mindbank
    """
    from mindbank.store.postgres import agent_role, agent_url, create_token

    url = _admin_url(db)
    token = create_token(url, name, agent)
    opened = agent_url(url, agent_role(name, agent), token, tenant=name)
    if as_json:
        emit_json({"tenant": name, "agent": agent, "token": token, "url": opened})
        return
    click.echo(f"agent {agent} of tenant {name} opens:\n{opened}")
    click.echo(f"revoke it with: mindbank db tenant revoke {name} {agent}")


@tenant.command("revoke")
@click.argument("name")
@click.argument("agent")
@db_option
def tenant_revoke(name: str, agent: str, db: Any) -> None:
    """Revoke AGENT's token of tenant NAME: its sessions end now, its writes stay.

    \b
    Example:
      mindbank db tenant revoke alice reviewer --db postgresql://admin@host/mindbank
    """
    from mindbank.store.postgres import revoke_token

    ended = revoke_token(_admin_url(db), name, agent)
    click.echo(f"token of {agent} revoked ({ended} open sessions ended)")


@tenant.command("drop")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Confirm: every row of NAME is deleted.")
@db_option
def tenant_drop(name: str, yes: bool, db: Any) -> None:
    """Delete tenant NAME: its rows (no other tenant's) and its role.

    \b
    Example:
      mindbank db tenant drop alice --yes --db postgresql://admin@host/mindbank
    """
    from mindbank.store.postgres import drop_tenant

    url = _admin_url(db)
    if not yes:
        fail(f"this deletes every entry of tenant {name!r}: add --yes")
    n = drop_tenant(url, name)
    click.echo(f"tenant {name} dropped with its {n} entries")


@db.command("copy")
@click.argument("source")
@click.argument("target")
@json_option
def copy_(source: str, target: str, as_json: bool) -> None:
    """Copy a whole memory from SOURCE to TARGET (SQLite files or postgresql:// URLs, either
    way): entries, vectors, schemas, the change log, coordination and the ReasoningBank, then
    verify counts and checksums. What the target has no place for is named, not copied.

    \b
    Examples:
      mindbank db copy .mindbank/memory.db postgresql://alice:TOKEN@db.example/mindbank
      mindbank db copy postgresql://alice:TOKEN@db.example/mindbank backup.db
    """
    r = mindbank.copy(source, target)
    if as_json:
        emit_json(r)
        return
    click.echo(f"copied {r.entries} entries, {r.vectors} vectors, {r.schemas} schemas and "
               f"{r.changes} changes from {r.source} to {r.target} in {r.seconds:.2f} s")  # fmt: skip
    rows = sum(r.tables.values())
    click.echo(f"copied {rows} rows of {sum(1 for n in r.tables.values() if n)} other tables "
               "(coordination, ReasoningBank)")  # fmt: skip
    click.echo(f"verified: the same {r.entries} entries on both sides (sha256 {r.checksum[:16]})"
               " and the same rows in every table copied")  # fmt: skip
    for name, n in r.left_behind.items():
        click.echo(f"left behind: {n} rows of {name} (no place for them in the target yet)")
