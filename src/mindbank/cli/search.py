"""``mindbank search``, ``mindbank memory search``, ``reembed`` and ``index``: semantic memory
from the shell."""

from __future__ import annotations

from pathlib import Path

import click

import mindbank
from mindbank.cli.output import db_option, emit_json, fail, json_option, table

__all__ = ["index", "reembed", "search"]


def _preview(value: object, width: int = 70) -> str:
    import json

    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


@click.command()
@click.argument("query")
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(min=1), help="Results.")
@click.option(
    "--mode",
    type=click.Choice(["hybrid", "semantic", "keyword"]),
    default="hybrid",
    show_default=True,
    help="By meaning and keywords, by meaning only, or by keywords only.",
)
@click.option("-n", "--namespace", help="Only this namespace.")
@click.option("-t", "--tag", "tags", multiple=True, help="Only entries with this tag (repeatable).")
@click.option("--min-score", type=float, help="Drop results scoring below this.")
@click.option(
    "--mmr",
    type=click.FloatRange(0.0, 1.0),
    help="Diversify: the weight of relevance (1 = none, 0.5 = balanced).",
)
@db_option
@json_option
def search(
    query: str,
    k: int,
    mode: str,
    namespace: str | None,
    tags: tuple[str, ...],
    min_score: float | None,
    mmr: float | None,
    db: Path | None,
    as_json: bool,
) -> None:
    """Find entries by meaning (and keywords): QUERY in plain words.

    \b
    Examples:
      mindbank search "how do we handle a locked database"
      mindbank search "retry policy" --mode keyword -k 5 --json
      mindbank memory search "api versioning" -n architecture --mmr 0.7
    """
    with mindbank.open(db) as mb:
        hits = mb.search(
            query, k=k, mode=mode, namespace=namespace, tags=tags, min_score=min_score, mmr=mmr
        )
    if as_json:
        emit_json({"query": query, "mode": mode, "hits": hits})
        return
    if not hits:
        click.echo("no results")
        return
    table(
        f"{len(hits)} results ({mode})",
        ["#", "score", "semantic", "keyword", "namespace", "key", "value"],
        [
            (h.rank, f"{h.score:.3f}", _fmt(h.semantic), _fmt(h.keyword), h.entry.namespace,
             h.entry.key, _preview(h.entry.value))
            for h in hits
        ],
    )  # fmt: skip


@click.command()
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@db_option
@json_option
def reembed(yes: bool, db: Path | None, as_json: bool) -> None:
    """Recompute every vector with the current embedder (MINDBANK_EMBEDDER).

    Use it after changing embedders: vectors of different models are never mixed.

    \b
    Example:
      MINDBANK_EMBEDDER=minilm mindbank memory reembed --yes
    """
    with mindbank.open(db) as mb:
        identity = mb.embedder.identity
        if not yes and not click.confirm(f"replace every vector with one from {identity}?"):
            fail("cancelled")
        n = mb.reembed(lambda done: click.echo(f"embedded {done}", err=True))
    if as_json:
        emit_json({"embedder": identity, "embedded": n})
    else:
        click.echo(f"re-embedded {n} entries with {identity}")


@click.group()
def index() -> None:
    """Inspect or rebuild the search indexes (vectors and full text)."""


@index.command()
@db_option
@json_option
def status(db: Path | None, as_json: bool) -> None:
    """Show whether the vector and full-text indexes are complete and in step (exit 1 if not).

    \b
    Example:
      mindbank memory index status --json
    """
    with mindbank.open(db) as mb:
        s = mb.index_status()
    if as_json:
        emit_json(s)
    else:
        table(None, ["", ""], [(k, v) for k, v in s.to_dict().items()])
    if not s.ok:
        fail("the indexes are incomplete: run `mindbank memory index rebuild`")


@index.command()
@db_option
@json_option
def rebuild(db: Path | None, as_json: bool) -> None:
    """Rebuild the full-text index and embed every entry that lacks a vector.

    \b
    Example:
      mindbank memory index rebuild
    """
    with mindbank.open(db) as mb:
        n = mb.rebuild_index(lambda done: click.echo(f"embedded {done}", err=True))
        s = mb.index_status()
    if as_json:
        emit_json({"embedded": n, "status": s})
    else:
        click.echo(f"rebuilt: {s.vectors} vectors ({n} new), {s.fts_rows} full-text rows")
