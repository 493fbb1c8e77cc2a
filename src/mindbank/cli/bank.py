"""``mindbank bank``: the ReasoningBank from the shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

import mindbank
from mindbank.cli.output import db_option, emit_json, fail, fmt_time, json_option, table

__all__ = ["bank"]


def _preview(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _json_arg(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise mindbank.ValidationError(f"--{what} is not valid JSON: {exc}") from None


@click.group()
def bank() -> None:
    """The ReasoningBank: lessons learned from successes and failures, found for new tasks.

    \b
    Examples:
      mindbank bank store api-framework "Use Express.js for REST" -n architecture -c 0.9
      mindbank bank query "backend architecture database API" -n architecture -k 5
      mindbank bank trajectory record "Reverse the words of a string" --strategy balanced \\
          --outcome '{"exit_code": 0, "tests_passed": 3, "tests_failed": 0}'
      mindbank bank status
      mindbank bank consolidate
    """


@bank.command()
@click.argument("key")
@click.argument("value")
@click.option("-n", "--namespace", default="default", show_default=True, help="Domain.")
@click.option("-c", "--confidence", type=click.FloatRange(0, 1), help="In [0, 1] (default 0.8).")
@click.option("-d", "--description", default="", help="When to use it, and when not.")
@click.option("--agent", help="Who stores it.")
@click.option("--type", "type_", default="reasoning_memory", show_default=True, help="Item type.")
@click.option("--kind", help="The kind of task it applies to.")
@click.option("--strategy", help="The strategy it is about.")
@click.option(
    "--outcome",
    type=click.Choice(["success", "failure"]),
    help="What worked (success) or a pitfall (failure).",
)
@db_option
@json_option
def store(
    key: str,
    value: str,
    namespace: str,
    confidence: float | None,
    description: str,
    agent: str | None,
    type_: str,
    kind: str | None,
    strategy: str | None,
    outcome: str | None,
    db: Path | None,
    as_json: bool,
) -> None:
    """Store an item under KEY (storing KEY again replaces its text and keeps its record).

    \b
    Example:
      mindbank bank store database-choice "PostgreSQL for ACID guarantees" -n architecture -c 0.92
    """
    with mindbank.open(db) as mb:
        item = mb.bank.store(
            key,
            value,
            namespace=namespace,
            confidence=confidence,
            description=description,
            agent=agent,
            type=type_,
            kind=kind,
            strategy=strategy,
            outcome=outcome,
        )
    if as_json:
        emit_json(item)
    else:
        click.echo(f"stored {item.id} ({namespace}/{key}, confidence {item.confidence:.2f})")


def _print_hits(hits: list[mindbank.BankHit], text: str) -> None:
    if not hits:
        click.echo("no results")
        return
    table(
        f"{len(hits)} results for {text!r}",
        ["#", "score", "sim", "conf", "namespace", "key / title", "content"],
        [
            (h.rank, f"{h.score:.3f}", f"{h.similarity:.3f}", f"{h.item.confidence:.2f}",
             h.item.namespace, _preview(h.item.key or h.item.title, 50), _preview(h.item.content))
            for h in hits
        ],
    )  # fmt: skip


@bank.command()
@click.argument("text")
@click.option("-k", "k", type=click.IntRange(min=1), help="Results (default 3).")
@click.option("-n", "--namespace", help="Only this namespace.")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=0.0, help="Floor.")
@click.option("--strategy", help="Only items learned from this strategy's attempts.")
@click.option("--outcome", type=click.Choice(["success", "failure"]), help="Only from these.")
@click.option("--archived", is_flag=True, help="Include archived items.")
@click.option("--mmr", type=click.FloatRange(0, 1), help="Weight of relevance in MMR (1 = off).")
@db_option
@json_option
def query(
    text: str,
    k: int | None,
    namespace: str | None,
    min_confidence: float,
    strategy: str | None,
    outcome: str | None,
    archived: bool,
    mmr: float | None,
    db: Path | None,
    as_json: bool,
) -> None:
    """Find the items most useful for TEXT (a new task), ranked by similarity, recency and
    reliability, diversified by MMR.

    \b
    Example:
      mindbank bank query "backend architecture database API" -n architecture -k 5 --min-confidence 0.7
    """
    with mindbank.open(db) as mb:
        hits = mb.bank.query(
            text,
            namespace=namespace,
            k=k,
            min_confidence=min_confidence,
            strategy=strategy,
            outcome=outcome,
            include_archived=archived,
            mmr_lambda=mmr,
        )
    if as_json:
        emit_json({"query": text, "hits": hits})
    else:
        _print_hits(hits, text)


@bank.command("list")
@click.option("-n", "--namespace", help="Only this namespace.")
@click.option(
    "--status",
    type=click.Choice(["active", "superseded", "archived", "all"]),
    default="active",
    show_default=True,
)
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=0)
@db_option
@json_option
def list_(
    namespace: str | None, status: str, limit: int, offset: int, db: Path | None, as_json: bool
) -> None:
    """List items, most recently updated first.

    \b
    Example:
      mindbank bank list -n security --limit 10
    """
    with mindbank.open(db) as mb:
        items = mb.bank.list(namespace=namespace, status=status, limit=limit, offset=offset)
    if as_json:
        emit_json(items)
        return
    if not items:
        click.echo("no items")
        return
    table(
        f"{len(items)} items",
        ["id", "namespace", "key / title", "conf", "uses", "status", "outcome"],
        [
            (i.id[:8], i.namespace, _preview(i.key or i.title, 60), f"{i.confidence:.2f}",
             i.usage_count, i.status, i.outcome or "-")
            for i in items
        ],
    )  # fmt: skip


@bank.command()
@click.argument("item_id")
@db_option
@json_option
def get(item_id: str, db: Path | None, as_json: bool) -> None:
    """Show one item in full, with its provenance.

    \b
    Example:
      mindbank bank get 3f2c9a10-...
    """
    with mindbank.open(db) as mb:
        item = mb.bank.get(item_id)
    if as_json:
        emit_json(item)
        return
    click.echo(f"{item.title}\n\n{item.description}\n\n{item.content}\n")
    click.echo(
        f"id {item.id} · {item.namespace} · {item.status} · confidence {item.confidence:.2f} · "
        f"used {item.usage_count} ({item.success_count} ok, {item.failure_count} failed) · "
        f"from trajectories {list(item.sources) or '-'} · origin {item.origin}"
    )


@bank.command()
@db_option
@json_option
def status(db: Path | None, as_json: bool) -> None:
    """Counts, average confidence, verdicts and the query cache.

    \b
    Example:
      mindbank bank status --json
    """
    with mindbank.open(db) as mb:
        s = mb.bank.status()
    if as_json:
        emit_json(s)
    else:
        table("ReasoningBank", ["", ""], [(k, v) for k, v in s.to_dict().items()])


@bank.command()
@db_option
@json_option
def check(db: Path | None, as_json: bool) -> None:
    """Check that the ReasoningBank tables exist (exit 1 if any is missing).

    \b
    Example:
      mindbank bank check
    """
    with mindbank.open(db) as mb:
        c = mb.bank.check_tables()
    if as_json:
        emit_json(c)
    else:
        click.echo(f"backend: {c.backend}")
        click.echo(f"existing tables: {', '.join(c.existing_tables) or '-'}")
        click.echo(f"missing tables: {', '.join(c.missing_tables) or '-'}")
    if c.missing_tables:
        fail("tables are missing: run `mindbank bank migrate`")


@bank.command()
@db_option
@json_option
def migrate(db: Path | None, as_json: bool) -> None:
    """Apply pending migrations (the bank's tables come with migration 3).

    \b
    Example:
      mindbank bank migrate
    """
    with mindbank.open(db) as mb:
        applied = mb.bank.migrate()
        path = str(mb.path)
    if as_json:
        emit_json({"applied": applied, "database_path": path})
    elif applied:
        click.echo(f"applied migrations {applied} to {path}")
    else:
        click.echo(f"up to date: {path}")


@bank.command()
@db_option
@json_option
def consolidate(db: Path | None, as_json: bool) -> None:
    """Merge near-duplicates, link contradictions, archive unused old unreliable items.

    Nothing is deleted: merged items are marked superseded, archived ones kept. Running it
    again changes nothing.

    \b
    Example:
      mindbank bank consolidate --json
    """
    with mindbank.open(db) as mb:
        r = mb.bank.consolidate()
    if as_json:
        emit_json(r)
    else:
        click.echo(
            f"examined {r.examined} items in {r.seconds:.2f} s: merged {len(r.merged)}, "
            f"linked {len(r.contradictions)} contradictions, archived {len(r.archived)}"
        )


@bank.group()
def trajectory() -> None:
    """Record, list and show attempts at tasks."""


@trajectory.command()
@click.argument("task", required=False)
@click.option(
    "--steps", help='Steps as a JSON list, e.g. \'[{"action": "...", "observation": "..."}]\'.'
)
@click.option(
    "--outcome", help='Outcome as JSON: {"exit_code", "tests_passed", "tests_failed", ...}.'
)
@click.option("--verdict", type=click.Choice(["success", "failure"]), help="If you know it.")
@click.option("--task-id", help="Groups attempts at the same task.")
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("--kind", help="The kind of task (e.g. string, math, api).")
@click.option("--strategy", help="The strategy or approach used.")
@click.option("--agent", help="Who made the attempt.")
@click.option("--used", multiple=True, help="Id of an item used in this attempt (repeatable).")
@click.option("--duration", type=click.FloatRange(min=0), help="Seconds it took.")
@click.option("--no-distil", is_flag=True, help="Record and judge only.")
@click.option(
    "--from",
    "from_file",
    type=click.File("r"),
    help="Read the whole trajectory as a JSON object from a file ('-' for stdin).",
)
@db_option
@json_option
def record(
    task: str | None,
    steps: str | None,
    outcome: str | None,
    verdict: str | None,
    task_id: str | None,
    namespace: str,
    kind: str | None,
    strategy: str | None,
    agent: str | None,
    used: tuple[str, ...],
    duration: float | None,
    no_distil: bool,
    from_file: Any,
    db: Path | None,
    as_json: bool,
) -> None:
    """Record one attempt at TASK, judge it and distil items from it.

    The verdict comes from real test results in --outcome, else --verdict, else the judge
    command (MINDBANK_JUDGE_CMD); without any it is "unknown" and nothing is distilled.

    \b
    Examples:
      mindbank bank trajectory record "Find the area of a circle" --strategy int-division \\
          --outcome '{"exit_code": 1, "tests_passed": 1, "tests_failed": 2}'
      echo '{"task": "...", "steps": [], "verdict": "success"}' | mindbank bank trajectory record --from -
    """
    fields: dict[str, Any] = {}
    if from_file is not None:
        try:
            fields = json.load(from_file)
        except json.JSONDecodeError as exc:
            raise mindbank.ValidationError(f"--from is not valid JSON: {exc}") from None
        if not isinstance(fields, dict):
            raise mindbank.ValidationError("--from must hold a JSON object")
    args: dict[str, Any] = {
        "task": task,
        "steps": _json_arg(steps, "steps"),
        "outcome": _json_arg(outcome, "outcome"),
        "verdict": verdict,
        "task_id": task_id,
        "kind": kind,
        "strategy": strategy,
        "agent": agent,
        "used": list(used) or None,
        "duration": duration,
    }
    merged = {**fields, **{k: v for k, v in args.items() if v is not None}}
    merged.setdefault("namespace", namespace)
    if "task" not in merged:
        fail("give the TASK (or a --from file with a 'task' field)")
    unknown = set(merged) - {*args, "namespace"}
    if unknown:
        fail(f"unknown trajectory fields: {', '.join(sorted(unknown))}")
    text = merged.pop("task")
    steps_ = merged.pop("steps", None) or []
    with mindbank.open(db) as mb:
        r = mb.bank.record_trajectory(text, steps_, distil=not no_distil, **merged)
    if as_json:
        emit_json(r)
        return
    v = r.trajectory.verdict
    click.echo(f"recorded trajectory {r.trajectory.id}: {v.label} (verdict from {v.source})")
    if "judge_error" in v.detail:
        click.echo(f"warning: {v.detail['judge_error']}", err=True)
    for i in r.updated:
        click.echo(f"  updated {i.id[:8]} confidence -> {i.confidence:.3f}")
    for i in r.items:
        click.echo(f"  distilled {i.id[:8]}: {i.title}")
    if not v.known:
        click.echo("  nothing distilled: the verdict is unknown")


@trajectory.command("list")
@click.option("-n", "--namespace", help="Only this namespace.")
@click.option("--task-id", help="Only attempts at this task.")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True)
@db_option
@json_option
def list_trajectories(
    namespace: str | None, task_id: str | None, limit: int, db: Path | None, as_json: bool
) -> None:
    """List trajectories, newest first.

    \b
    Example:
      mindbank bank trajectory list --limit 10
    """
    with mindbank.open(db) as mb:
        ts = mb.bank.trajectories(namespace=namespace, task_id=task_id, limit=limit)
    if as_json:
        emit_json(ts)
        return
    if not ts:
        click.echo("no trajectories")
        return
    table(
        f"{len(ts)} trajectories",
        ["id", "time", "strategy", "verdict", "source", "distilled", "task"],
        [
            (t.id, fmt_time(t.timestamp), t.strategy or "-", t.verdict.label, t.verdict.source,
             "yes" if t.distilled_at else "no", _preview(t.task, 60))
            for t in ts
        ],
    )  # fmt: skip


@trajectory.command()
@click.argument("trajectory_id", type=int)
@db_option
def show(trajectory_id: int, db: Path | None) -> None:
    """Print one trajectory as JSON.

    \b
    Example:
      mindbank bank trajectory show 12
    """
    with mindbank.open(db) as mb:
        emit_json(mb.bank.trajectory(trajectory_id))


@bank.command()
@click.argument("trajectory_id", type=int)
@db_option
@json_option
def judge(trajectory_id: int, db: Path | None, as_json: bool) -> None:
    """Show a trajectory's verdict; an unknown one is judged again (MINDBANK_JUDGE_CMD).

    \b
    Example:
      MINDBANK_JUDGE_CMD="my-llm-judge --json" mindbank bank judge 12
    """
    with mindbank.open(db) as mb:
        v = mb.bank.judge(trajectory_id)
    if as_json:
        emit_json(v)
    else:
        click.echo(f"{v.label} (from {v.source}) {json.dumps(dict(v.detail))}")


@bank.command()
@click.argument("trajectory_id", type=int, required=False)
@click.option("--dry-run", is_flag=True, help="Show the items without storing them.")
@click.option("--pending", is_flag=True, help="Distil every judged trajectory not yet distilled.")
@db_option
@json_option
def distill(
    trajectory_id: int | None, dry_run: bool, pending: bool, db: Path | None, as_json: bool
) -> None:
    """Distil a judged trajectory into at most three items (again: the items it gave).

    \b
    Examples:
      mindbank bank distill 12
      mindbank bank distill --pending
    """
    if pending:
        with mindbank.open(db) as mb:
            made = mb.bank.distill_pending()
        if as_json:
            emit_json({"items": made})
        else:
            click.echo(f"distilled {made} items")
        return
    if trajectory_id is None:
        fail("give a TRAJECTORY_ID or --pending")
        return
    with mindbank.open(db) as mb:
        if dry_run:
            drafts = mb.bank.drafts(mb.bank.trajectory(trajectory_id))
            out: list[Any] = [
                {"title": d.title, "description": d.description, "content": d.content}
                for d in drafts
            ]
        else:
            out = list(mb.bank.distill(trajectory_id))
    if as_json:
        emit_json(out)
        return
    if not out:
        click.echo("nothing to distil: the verdict is unknown")
    for d in out:
        title = d["title"] if isinstance(d, dict) else f"{d.id[:8]} {d.title}"
        click.echo(f"- {title}")


@bank.command()
@click.argument("item_id")
@click.argument("outcome", type=click.Choice(["success", "failure"]))
@db_option
@json_option
def feedback(item_id: str, outcome: str, db: Path | None, as_json: bool) -> None:
    """Report that ITEM was used and how it went (moves its confidence).

    \b
    Example:
      mindbank bank feedback 3f2c9a10-... success
    """
    with mindbank.open(db) as mb:
        item = mb.bank.feedback(item_id, outcome)
    if as_json:
        emit_json(item)
    else:
        click.echo(f"{item.id[:8]} confidence {item.confidence:.3f} (used {item.usage_count})")


@bank.command()
@click.argument("item_id")
@click.option(
    "--add",
    "target",
    help="Link ITEM to this item instead of listing (with --type and --strength).",
)
@click.option(
    "--type",
    "type_",
    type=click.Choice(["related", "prerequisite", "contradicts", "supersedes"]),
    help="Link type (listing: only this type; adding: default related).",
)
@click.option("--strength", type=click.FloatRange(0, 1), default=0.5, show_default=True)
@db_option
@json_option
def links(
    item_id: str,
    target: str | None,
    type_: str | None,
    strength: float,
    db: Path | None,
    as_json: bool,
) -> None:
    """List the neighbours of ITEM (or link it to another with --add).

    \b
    Examples:
      mindbank bank links 3f2c9a10-...
      mindbank bank links 3f2c9a10-... --add 9b1d... --type prerequisite --strength 0.8
    """
    with mindbank.open(db) as mb:
        if target is not None:
            made = mb.bank.link(item_id, target, type_ or "related", strength)
            if as_json:
                emit_json(made)
            else:
                click.echo(f"linked {item_id[:8]} -{made.type}-> {target[:8]} ({made.strength})")
            return
        found = mb.bank.links(item_id, type_)
    if as_json:
        emit_json(found)
        return
    if not found:
        click.echo("no links")
        return
    table(
        f"{len(found)} links",
        ["type", "dir", "strength", "other", "title"],
        [
            (k.type, k.direction, f"{k.strength:.2f}", k.other.id[:8], _preview(k.other.title, 60))
            for k in found
        ],
    )  # fmt: skip
