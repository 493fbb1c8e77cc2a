"""``mindbank memory ...``: the key-value memory from the shell."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

import mindbank
from mindbank.cli import search as search_cli
from mindbank.cli.output import db_option, emit_json, fail, fmt_time, json_option, table
from mindbank.config import parse_duration
from mindbank.errors import ValidationError

__all__ = ["memory"]

F = TypeVar("F", bound=Callable[..., Any])


def _ns_option(default: str | None = "default", help: str = "Namespace.") -> Callable[[F], F]:
    return click.option("-n", "--namespace", default=default, show_default=True, help=help)


def _read_value(value: str | None) -> str:
    if value is None or value == "-":
        if sys.stdin.isatty() and value is None:
            raise click.UsageError("give a VALUE, or - to read it from stdin")
        return sys.stdin.read()
    return value


@click.group()
def memory() -> None:
    """Store, find, list, export and back up agent memory."""


memory.add_command(search_cli.search)
memory.add_command(search_cli.reembed)
memory.add_command(search_cli.index)


@memory.command()
@click.argument("key")
@click.argument("value", required=False)
@_ns_option()
@click.option("-t", "--tag", "tags", multiple=True, help="A tag (repeatable).")
@click.option("-m", "--metadata", help='Metadata as a JSON object, e.g. \'{"by": "architect"}\'.')
@click.option("--ttl", help="Expire after this long: seconds or 30m, 1h, 7d.")
@click.option(
    "--type",
    "value_type",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Store VALUE as text, or parse it as JSON.",
)
@db_option
@json_option
def store(
    key: str,
    value: str | None,
    namespace: str,
    tags: tuple[str, ...],
    metadata: str | None,
    ttl: str | None,
    value_type: str,
    db: Path | None,
    as_json: bool,
) -> None:
    """Store VALUE under KEY (replacing any previous value). VALUE - reads stdin.

    \b
    Examples:
      mindbank memory store api-design "Use REST" -n architecture -t api
      mindbank memory store config '{"retries": 3}' --type json --ttl 1h
      git log -1 | mindbank memory store last-commit -
    """
    text = _read_value(value)
    parsed: Any = text
    if value_type == "json":
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"VALUE is not valid JSON: {exc.msg}") from None
    meta: Any = None
    if metadata is not None:
        try:
            meta = json.loads(metadata)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"--metadata is not valid JSON: {exc.msg}") from None
        if not isinstance(meta, dict):
            raise ValidationError("--metadata must be a JSON object")
    seconds = parse_duration(ttl) if ttl is not None else None
    with mindbank.open(db) as mb:
        entry = mb.store(key, parsed, namespace=namespace, tags=tags, metadata=meta, ttl=seconds)
    if as_json:
        emit_json(entry)
    else:
        click.echo(f"stored {entry.namespace}/{entry.key}")


@memory.command()
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@_ns_option()
@db_option
@json_option
def retrieve(keys: tuple[str, ...], namespace: str, db: Path | None, as_json: bool) -> None:
    """Print the value stored under KEY (exit 1 if there is none).

    With several keys, all are read at once: each found one is printed as `KEY: VALUE`
    (--json: a list of entries), then the missing ones are named on stderr and the exit
    status is 1.

    \b
    Examples:
      mindbank memory retrieve api-design -n architecture
      mindbank memory retrieve api-design -n architecture --json
      mindbank memory retrieve api-design db-choice auth-flow -n architecture
    """
    if len(keys) == 1:
        with mindbank.open(db) as mb:
            entry = mb.retrieve(keys[0], namespace=namespace)
        if entry is None:
            fail(f"no entry {keys[0]!r} in namespace {namespace!r}")
            return
        if as_json:
            emit_json(entry)
        else:
            click.echo(_text(entry.value))
        return
    with mindbank.open(db) as mb:
        entries = mb.retrieve_many(keys, namespace=namespace)
    if as_json:
        emit_json(list(entries.values()))
    else:
        for key, entry in entries.items():
            click.echo(f"{key}: {_text(entry.value)}")
    missing = [k for k in dict.fromkeys(keys) if k not in entries]
    if missing:
        fail(f"no entry {', '.join(map(repr, missing))} in namespace {namespace!r}")


def _text(value: Any) -> str:
    """A value as the CLI prints it: text as is, JSON indented."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)


def _preview(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@memory.command("list")
@_ns_option(None, "Only this namespace (default: all).")
@click.option("-p", "--pattern", help="Key pattern (GLOB: api-*, user-?, [ab]*).")
@click.option("-t", "--tag", "tags", multiple=True, help="Only entries with this tag (repeatable).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=0))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0))
@db_option
@json_option
def list_(
    namespace: str | None,
    pattern: str | None,
    tags: tuple[str, ...],
    limit: int,
    offset: int,
    db: Path | None,
    as_json: bool,
) -> None:
    """List entries, ordered by key.

    \b
    Examples:
      mindbank memory list -n architecture -p 'api-*'
      mindbank memory list -t api --limit 100 --json
    """
    with mindbank.open(db) as mb:
        entries = mb.list(
            namespace=namespace, pattern=pattern, tags=tags, limit=limit, offset=offset
        )
        total = mb.count(namespace=namespace, pattern=pattern, tags=tags)
    if as_json:
        emit_json({"total": total, "entries": entries})
        return
    if not entries:
        click.echo("no entries")
        return
    table(
        f"{len(entries)} of {total} entries",
        ["namespace", "key", "value", "tags", "updated", "hits"],
        [
            (e.namespace, e.key, _preview(e.value), ",".join(e.tags), fmt_time(e.updated_at),
             e.access_count)
            for e in entries
        ],
    )  # fmt: skip


@memory.command()
@click.argument("key")
@_ns_option()
@db_option
@json_option
def delete(key: str, namespace: str, db: Path | None, as_json: bool) -> None:
    """Delete the entry under KEY (exit 1 if there is none)."""
    with mindbank.open(db) as mb:
        deleted = mb.delete(key, namespace=namespace)
    if as_json:
        emit_json({"deleted": deleted, "key": key, "namespace": namespace})
    if not deleted:
        fail(f"no entry {key!r} in namespace {namespace!r}")
    elif not as_json:
        click.echo(f"deleted {namespace}/{key}")


@memory.command(context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("reward", type=click.FloatRange(-1.0, 1.0))
@_ns_option()
@click.option("-q", "--query", help="The question it was (not) useful for.")
@db_option
@json_option
def feedback(
    key: str, reward: float, namespace: str, query: str | None, db: Path | None, as_json: bool
) -> None:
    """Say how useful the entry under KEY was: REWARD from -1 (misleading) to 1 (just right).

    It moves the entry's learned boost, which search adds to its score. Retrieving an entry
    a search just showed does this by itself (+1, and -1 for the results shown above it).

    \b
    Examples:
      mindbank memory feedback locked-db 1 -n debugging
      mindbank memory feedback old-advice -0.5 -q "how do we deploy"
    """
    with mindbank.open(db) as mb:
        score = mb.feedback(key, reward, namespace=namespace, query=query)
    if as_json:
        emit_json(score)
    else:
        click.echo(
            f"{namespace}/{key}: boost {score.boost:+.3f} ({score.uses} uses, {score.skips} skips)"
        )


@memory.command()
@click.option("-n", "--namespace", required=True, help="The namespace to empty.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@db_option
@json_option
def clear(namespace: str, yes: bool, db: Path | None, as_json: bool) -> None:
    """Delete every entry of a namespace.

    \b
    Example:
      mindbank memory clear -n scratch --yes
    """
    with mindbank.open(db) as mb:
        if not yes:
            if namespace not in mb.namespaces():
                fail(f"no namespace {namespace!r}")
            if not click.confirm(f"delete every entry of {namespace!r}?"):
                fail("cancelled")
        n = mb.clear_namespace(namespace)
    if as_json:
        emit_json({"namespace": namespace, "deleted": n})
    else:
        click.echo(f"deleted {n} entries from {namespace}")


@memory.command()
@click.argument("path", default="-", type=click.Path(dir_okay=False, allow_dash=True))
@_ns_option(None, "Only this namespace (default: all).")
@db_option
def export(path: str, namespace: str | None, db: Path | None) -> None:
    """Export entries as JSON Lines to PATH (default: stdout).

    \b
    Examples:
      mindbank memory export backup.jsonl
      mindbank memory export -n architecture > arch.jsonl
    """
    with mindbank.open(db) as mb:
        if path == "-":
            mb.export(sys.stdout, namespace=namespace)
            return
        n = mb.export(path, namespace=namespace)
    click.echo(f"exported {n} entries to {path}", err=True)


@memory.command("import")
@click.argument("path", type=click.Path(dir_okay=False, allow_dash=True))
@db_option
@json_option
def import_(path: str, db: Path | None, as_json: bool) -> None:
    """Import JSON Lines from PATH (- for stdin). All lines or none.

    \b
    Example:
      mindbank memory import backup.jsonl
    """
    with mindbank.open(db) as mb:
        n = mb.import_(sys.stdin if path == "-" else path)
    if as_json:
        emit_json({"imported": n})
    else:
        click.echo(f"imported {n} entries")


@memory.command()
@db_option
@json_option
def stats(db: Path | None, as_json: bool) -> None:
    """Show file size, rows per table and entries per namespace."""
    with mindbank.open(db) as mb:
        s = mb.stats()
    if as_json:
        emit_json(s)
        return
    click.echo(
        f"{s.path}: {s.file_bytes:,} bytes (+{s.wal_bytes:,} WAL), schema {s.schema_version}"
    )
    table("entries per namespace", ["namespace", "entries"], list(s.namespaces.items()))
    table("rows per table", ["table", "rows"], list(s.tables.items()))
    if s.expired_entries:
        click.echo(f"{s.expired_entries} expired entries await `mindbank memory cleanup`")


@memory.command()
@click.argument("direction", type=click.Choice(["import", "export"]))
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="The memory folder (default: $MINDBANK_CLAUDE_MEMORY, else ~/.claude/memory).",
)
@click.option("-n", "--namespace", default="claude", show_default=True)
@db_option
@json_option
def bridge(
    direction: str, folder: Path | None, namespace: str, db: Path | None, as_json: bool
) -> None:
    """Bring a folder of JSON memory files (Claude Code's ~/.claude/memory) in, or write the
    namespace back to it with a MEMORY.md index ordered by memory-graph rank.

    \b
    Examples:
      mindbank memory bridge import
      mindbank memory bridge export --folder ./memory -n claude
    """
    with mindbank.open(db) as mb:
        if direction == "import":
            report = mb.import_memory_folder(folder, namespace=namespace)
        else:
            report = mb.export_memory_folder(folder, namespace=namespace)
    if as_json:
        emit_json(report)
        return
    click.echo(
        f"{direction}: {len(report.written)} written, {report.unchanged} unchanged, "
        f"{len(report.skipped)} skipped ({report.folder})"
    )
    for problem in report.skipped:
        click.echo(f"  skipped {problem}", err=True)


@memory.command()
@click.option("--list", "list_entries", is_flag=True, help="Show each entry's tier and why.")
@click.option("--apply", "apply_", is_flag=True, help="Apply the episodic retention rules.")
@db_option
@json_option
def tiers(list_entries: bool, apply_: bool, db: Path | None, as_json: bool) -> None:
    """Show what sits in each memory tier: working, episodic, semantic (hot/warm/cold), vector.

    \b
    Examples:
      mindbank memory tiers
      mindbank memory tiers --list --json
      mindbank memory tiers --apply     # prune events past 10,000 or 7 days
    """
    with mindbank.open(db) as mb:
        removed = mb.apply_retention() if apply_ else None
        report = mb.tiers(entries=list_entries)
    if as_json:
        emit_json({"removed_events": removed, **report.to_dict()})
        return
    if removed is not None:
        click.echo(f"episodic retention: removed {removed} events")
    rows = [
        ("working", ", ".join(f"{k} {v}" for k, v in report.working.items())),
        ("episodic", ", ".join(f"{k} {v}" for k, v in report.episodic.items())),
        ("semantic", ", ".join(f"{k} {v}" for k, v in report.semantic.items())),
        ("vector", ", ".join(f"{k} {v}" for k, v in report.vector.items())),
    ]
    table(None, ["tier", "contents"], rows)
    if list_entries:
        table(
            None,
            ["namespace", "key", "tier", "why"],
            [(e.namespace, e.key, e.tier, e.reason) for e in report.entries],
        )


@memory.command()
@click.argument("text")
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("-n", "--namespace", help="Only this namespace.")
@click.option("--min-score", default=0.2, show_default=True, type=click.FloatRange(0, 1))
@db_option
@json_option
def fuzzy(
    text: str, k: int, namespace: str | None, min_score: float, db: Path | None, as_json: bool
) -> None:
    """Find entries whose key (or short value) is spelled like TEXT, typos and all.

    \b
    Example:
      mindbank memory fuzzy retyr-polcy
    """
    with mindbank.open(db) as mb:
        hits = mb.fuzzy(text, k=k, namespace=namespace, min_score=min_score)
    if as_json:
        emit_json(hits)
        return
    if not hits:
        click.echo("no match")
        return
    table(
        None,
        ["score", "namespace", "key", "matched"],
        [(f"{h.score:.2f}", h.namespace, h.key, h.field) for h in hits],
    )


@memory.command()
@click.option("--top", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--neighbours", default=5, show_default=True, type=click.IntRange(min=0))
@click.option("--rebuild/--no-rebuild", default=True, show_default=True, help="Rebuild first.")
@db_option
@json_option
def graph(top: int, neighbours: int, rebuild: bool, db: Path | None, as_json: bool) -> None:
    """Show the memory graph: the entries with the highest PageRank and their neighbours.

    Edges link entries of similar meaning (cosine >= 0.8, found through LSH) and entries used
    close together in time. Rebuilding embeds entries that lack a vector first.

    \b
    Examples:
      mindbank memory graph --top 5
      mindbank memory graph --no-rebuild --json
    """
    with mindbank.open(db) as mb:
        report = mb.build_graph() if rebuild else None
        nodes = mb.graph(top, neighbours)
    if as_json:
        emit_json({"built": report, "top": nodes})
        return
    if report is not None:
        click.echo(
            f"graph: {report.nodes} entries, {report.similar_edges} similarity and "
            f"{report.coaccess_edges} co-access edges ({report.seconds:.2f} s)"
        )
    if not nodes:
        click.echo("no graph yet: run `mindbank memory graph` (with --rebuild)")
        return
    table(
        None,
        ["pagerank", "namespace", "key", "neighbours"],
        [
            (f"{n.pagerank:.5f}", n.namespace, n.key,
             ", ".join(f"{k} ({kind} {w:.2f})" for _, k, kind, w in n.neighbours))
            for n in nodes
        ],
    )  # fmt: skip


@memory.command()
@click.option("-w", "--window", default="7d", show_default=True, help="1h, 24h, 7d, seconds ...")
@click.option("--top", default=10, show_default=True, type=click.IntRange(min=1))
@db_option
@json_option
def analytics(window: str, top: int, db: Path | None, as_json: bool) -> None:
    """Usage by namespace and the hottest keys over a time window.

    \b
    Example:
      mindbank memory analytics --window 24h --top 5
    """
    with mindbank.open(db) as mb:
        report = mb.analytics(window=window, top=top)
    if as_json:
        emit_json(report)
        return
    table(
        f"usage since {fmt_time(report.since)} UTC",
        ["namespace", "entries", "bytes", "accesses", "created", "updated", "accessed"],
        [
            (u.namespace, u.entries, u.value_bytes, u.total_accesses, u.created_in_window,
             u.updated_in_window, u.accessed_in_window)
            for u in report.namespaces
        ],
    )  # fmt: skip
    if report.hot_keys:
        table(
            "hottest keys",
            ["namespace", "key", "accesses", "last access"],
            [
                (h.namespace, h.key, h.access_count, fmt_time(h.accessed_at))
                for h in report.hot_keys
            ],
        )
    else:
        click.echo("no key was accessed in the window")


@memory.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace PATH if it is an older backup.")
@db_option
@json_option
def backup(path: Path, overwrite: bool, db: Path | None, as_json: bool) -> None:
    """Copy the database to PATH while it is in use (online and consistent).

    \b
    Example:
      mindbank memory backup ~/backups/memory-$(date +%F).db
    """
    with mindbank.open(db) as mb:
        size = mb.backup(path, overwrite=overwrite)
    if as_json:
        emit_json({"backup": str(path), "bytes": size})
    else:
        click.echo(f"backed up to {path} ({size:,} bytes)")


@memory.command()
@click.argument("backup_path", metavar="BACKUP", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@db_option
def restore(backup_path: Path, yes: bool, db: Path | None) -> None:
    """Replace the database with BACKUP (verified first). On PostgreSQL, the tenant's whole
    memory is replaced in one transaction.

    \b
    Examples:
      mindbank memory restore ~/backups/memory-2026-11-01.db --yes
      mindbank memory restore memory.db --db postgresql://alice:TOKEN@db.example/mindbank --yes
    """
    target = db if db is not None else mindbank.find_db_path()
    shown = target if isinstance(target, Path) else "the tenant's memory"
    present = not isinstance(target, Path) or target.exists()
    if not yes and present and not click.confirm(f"replace {shown} with {backup_path}?"):
        fail("cancelled")
    mindbank.restore(backup_path, target)
    click.echo(f"restored {shown} from {backup_path}")


@memory.command()
@click.argument("sql")
@click.option("-P", "--param", "params", multiple=True, help="A ? parameter (repeatable).")
@db_option
@json_option
def query(sql: str, params: tuple[str, ...], db: Path | None, as_json: bool) -> None:
    """Run a read-only SQL query (anything that writes is refused).

    \b
    Examples:
      mindbank memory query "SELECT namespace, count(*) FROM memory_store GROUP BY 1"
      mindbank memory query "SELECT * FROM tasks WHERE status = ?" -P completed --json
    """
    with mindbank.open(db) as mb:
        result = mb.query(sql, params)
    if as_json:
        emit_json(result.dicts())
    else:
        table(None, result.columns, result.rows)


@memory.command()
@db_option
@json_option
def cleanup(db: Path | None, as_json: bool) -> None:
    """Delete expired entries and sessions (they are already invisible)."""
    with mindbank.open(db) as mb:
        report = mb.cleanup()
    if as_json:
        emit_json(report)
    else:
        click.echo(f"deleted {report.entries} expired entries and {report.sessions} sessions")


@memory.command()
@click.option("--compression", is_flag=True,
              help="Compress cold entries: values with zstd and a dictionary trained on the "
              "store, vectors as int8; measures size and search recall before and after.")  # fmt: skip
@click.option("--tier", "tiers", multiple=True, type=click.Choice(["cold", "warm", "hot"]),
              help="Compress these tiers (default: cold; see `mindbank memory tiers`).")  # fmt: skip
@click.option("--min-bytes", type=click.IntRange(min=1), default=64, show_default=True,
              help="Leave shorter values as they are.")  # fmt: skip
@click.option("--no-vectors", is_flag=True, help="Leave the vectors as float32.")
@click.option("--vacuum", is_flag=True, help="Rebuild the file before and after; report sizes.")
@db_option
@json_option
def optimize(
    compression: bool,
    tiers: tuple[str, ...],
    min_bytes: int,
    no_vectors: bool,
    vacuum: bool,
    db: Path | None,
    as_json: bool,
) -> None:
    """Refresh the planner's statistics; with --compression, compress cold entries.

    Compressed entries read back exactly as stored and keyword search still finds them; the
    int8 vectors change semantic scores slightly: the report says how much the top 10 moved.

    \b
    Examples:
      mindbank memory optimize
      mindbank memory optimize --compression --vacuum
    """
    with mindbank.open(db) as mb:
        mb.optimize()
        if not compression:
            if as_json:
                emit_json({"optimized": True})
            else:
                click.echo("optimized (add --compression to compress cold entries)")
            return
        r = mb.compress(
            tiers=tiers or ("cold",), min_bytes=min_bytes, vectors=not no_vectors, vacuum=vacuum
        )
    if as_json:
        emit_json(r)
        return
    click.echo(f"{r.cold} of {r.entries} entries in {'/'.join(tiers or ('cold',))}; "
               f"done in {r.seconds:.2f} s")  # fmt: skip

    def pct(a: int, b: int) -> str:
        return f"{1 - b / a:.0%} smaller" if a else "-"

    rows = [
        ("values (zstd + dictionary)", r.values_compressed, f"{r.value_bytes_before:,}",
         f"{r.value_bytes_after:,}", pct(r.value_bytes_before, r.value_bytes_after)),
        ("vectors (int8)", r.vectors_quantized, f"{r.vector_bytes_before:,}",
         f"{r.vector_bytes_after:,}", pct(r.vector_bytes_before, r.vector_bytes_after)),
        ("dictionary", 1 if r.dictionary else 0, "", f"{r.dictionary_bytes:,}", ""),
    ]  # fmt: skip
    table(None, ["what", "compressed", "bytes before", "bytes after", ""], rows)
    if r.reduction is not None:
        click.echo(f"together {r.reduction:.0%} smaller (the dictionary counted)")
    if r.file_bytes_before is not None and r.file_bytes_after is not None:
        click.echo(f"database file (vacuumed): {r.file_bytes_before:,} -> "
                   f"{r.file_bytes_after:,} bytes")  # fmt: skip
    for name, value in (("semantic", r.semantic_recall_at_10),
                        ("keyword", r.keyword_recall_at_10)):  # fmt: skip
        if value is not None:
            click.echo(f"{name} search recall@10 after vs before on {r.queries} queries: "
                       f"{value:.3f}")  # fmt: skip


@memory.group()
def schema() -> None:
    """JSON Schemas for namespaces: a value that does not match is refused.

    \b
    Examples:
      mindbank memory schema set tasks schemas.json --name task --strict
      mindbank memory schema show
      mindbank memory schema check tasks
      mindbank memory schema remove tasks
    """


@schema.command("set")
@click.argument("namespace")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="The definition values must match (when the file has several).")
@click.option("--strict", is_flag=True, help="Refuse fields the schema does not list.")
@db_option
@json_option
def schema_set(
    namespace: str, path: Path, name: str | None, strict: bool, db: Path | None, as_json: bool
) -> None:
    """Give NAMESPACE the JSON Schema in PATH (a schema, or Claude-Flow's definitions).

    \b
    Example:
      mindbank memory schema set tasks schemas.json --name task --strict
    """
    import json

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path} is not valid JSON: {exc}") from None
    with mindbank.open(db) as mb:
        info = mb.set_schema(namespace, document, name=name, strict=strict)
    if as_json:
        emit_json(info)
        return
    click.echo(f"{namespace}: schema {info.name!r} v{info.version}"
               f"{' (strict)' if info.strict else ''}")  # fmt: skip
    if info.violations:
        click.echo(f"   {info.violations} stored entries do not match it "
                   f"(see `mindbank memory schema check {namespace}`)")  # fmt: skip


@schema.command("show")
@click.argument("namespace", required=False)
@db_option
@json_option
def schema_show(namespace: str | None, db: Path | None, as_json: bool) -> None:
    """Show the schema of NAMESPACE, or list every namespace's.

    \b
    Example:
      mindbank memory schema show tasks
    """
    with mindbank.open(db) as mb:
        infos = mb.schemas() if namespace is None else [i for i in [mb.schema(namespace)] if i]
    if namespace is not None and not infos:
        fail(f"namespace {namespace!r} has no schema")
    if as_json:
        emit_json(infos if namespace is None else infos[0])
        return
    if namespace is not None:
        import json

        click.echo(json.dumps(infos[0].schema, indent=2))
        return
    table(None, ["namespace", "schema", "version", "strict", "updated"],
          [(i.namespace, i.name, i.version, "yes" if i.strict else "no", fmt_time(i.updated_at))
           for i in infos])  # fmt: skip


@schema.command("check")
@click.argument("namespace")
@db_option
@json_option
def schema_check(namespace: str, db: Path | None, as_json: bool) -> None:
    """List the stored entries of NAMESPACE that do not match its schema (exit 1 if any).

    \b
    Example:
      mindbank memory schema check tasks
    """
    with mindbank.open(db) as mb:
        if mb.schema(namespace) is None:
            fail(f"namespace {namespace!r} has no schema")
        bad = mb.check_schema(namespace)
    if as_json:
        emit_json({"namespace": namespace, "violations": [{"key": k, "why": w} for k, w in bad]})
    else:
        for _, why in bad:
            click.echo(why)
        click.echo(f"{len(bad)} entries of {namespace!r} do not match its schema")
    if bad:
        raise SystemExit(1)


@schema.command("remove")
@click.argument("namespace")
@db_option
def schema_remove(namespace: str, db: Path | None) -> None:
    """Stop checking NAMESPACE against a schema.

    \b
    Example:
      mindbank memory schema remove tasks
    """
    with mindbank.open(db) as mb:
        if not mb.remove_schema(namespace):
            fail(f"namespace {namespace!r} has no schema")
    click.echo(f"{namespace}: no schema")


@memory.command()
@_ns_option(None, "Only this namespace.")
@click.option("--since", type=click.IntRange(min=0), help="Start after this change number "
              "(default: where --name left off, else only new changes).")  # fmt: skip
@click.option("--name", help="A cursor kept in the database: watch again with the same name "
              "to catch up where you left off.")  # fmt: skip
@click.option("--for", "duration", type=click.FloatRange(min=0), help="Stop after SECONDS.")
@click.option("--interval", type=click.FloatRange(min=0.01), default=0.1, show_default=True,
              help="Seconds between looks at the log.")  # fmt: skip
@db_option
@json_option
def watch(
    namespace: str | None,
    since: int | None,
    name: str | None,
    duration: float | None,
    interval: float,
    db: Path | None,
    as_json: bool,
) -> None:
    """Print changes to entries as any process makes them (Ctrl-C stops).

    \b
    Examples:
      mindbank memory watch -n architecture
      mindbank memory watch --name my-agent --json     # resumes where it left off
      mindbank memory watch --since 0 --for 0          # the whole log, then stop
    """
    import json
    import threading

    done = threading.Event()

    def show(c: Any) -> None:
        if as_json:
            click.echo(json.dumps(c.to_dict(), ensure_ascii=False))
        else:
            click.echo(f"#{c.seq} {fmt_time(c.at)} {c.op:6} {c.namespace}/{c.key}  by {c.actor}")

    with mindbank.open(db) as mb:
        sub = mb.subscribe(show, namespace=namespace, since=since, name=name, interval=interval)
        try:
            sub.wait_caught_up()
            done.wait(duration)  # None: until interrupted
        except KeyboardInterrupt:
            pass
        finally:
            sub.close()
    if sub.error is not None:
        raise sub.error
