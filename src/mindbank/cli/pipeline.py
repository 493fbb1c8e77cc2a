"""``mindbank pipeline``: run tasks under strategies with their real tests; learn what works."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

import mindbank
from mindbank.cli.output import db_option, emit_json, json_option, require_matplotlib, table
from mindbank.errors import shown

__all__ = ["pipeline"]


def _tasks(source: str, complexity: str | None, limit: int | None) -> list[Any]:
    from mindbank.pipeline.tasks import load

    return load(source, complexity, limit)


@click.group()
def pipeline() -> None:
    """Run tasks under strategies with their real tests, and learn which strategy works.

    \b
    Examples:
      mindbank pipeline run --complexity easy --workers 2
      mindbank pipeline run --tasks ./my-tasks --strategies balanced,agent-a="my-agent --json"
      mindbank pipeline status
      mindbank pipeline select --kind easy --priorities production
    """


@pipeline.command()
@click.option("--tasks", "source", default="builtin", show_default=True,
              help="builtin, mbpp (the file MINDBANK_MBPP names), a folder of task folders, or "
                   "a .jsonl file.")  # fmt: skip
@click.option("--complexity", type=click.Choice(["easy", "medium", "hard"]))
@click.option("--limit", type=click.IntRange(min=1), help="At most this many tasks.")
@click.option("--strategies", default="conservative,balanced,aggressive", show_default=True,
              help="Comma-separated: built-in names, or name=command.")  # fmt: skip
@click.option("--iterations", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--timeout", type=click.FloatRange(min=1), default=60, show_default=True,
              help="Wall-time limit of one run, seconds.")  # fmt: skip
@click.option("--strategies-file", type=click.Path(dir_okay=False),
              help="Strategies from a JSON file (instead of --strategies).")  # fmt: skip
@click.option("--no-lint", is_flag=True, help="Skip ruff.")
@click.option("--validate", is_flag=True,
              help="Compare each strategy's figures before and after this run.")  # fmt: skip
@db_option
@json_option
def run(
    source: str,
    complexity: str | None,
    limit: int | None,
    strategies: str,
    iterations: int,
    workers: int,
    timeout: float,
    strategies_file: str | None,
    no_lint: bool,
    validate: bool,
    db: Path | None,
    as_json: bool,
) -> None:
    """Run every task under every strategy; store, log and learn from the results.

    \b
    Example:
      mindbank pipeline run --complexity easy          # the built-in tasks
      MINDBANK_MBPP=sanitized-mbpp.json mindbank pipeline run --tasks mbpp --limit 20
    """
    from mindbank.pipeline.learning import validate as compare
    from mindbank.pipeline.strategies import load_strategies, parse_strategies

    found = _tasks(source, complexity, limit)
    if strategies_file:
        chosen = load_strategies(strategies_file)
    else:
        chosen = parse_strategies([s for s in strategies.split(",") if s.strip()])
    with mindbank.open(db) as mb:
        before = {r["strategy"]: r for r in mb.pipeline.report()}
        total = len(found) * len(chosen) * iterations
        if as_json:
            results = mb.pipeline.run(found, chosen, workers=workers, iterations=iterations,
                                      lint=not no_lint, wall_seconds=timeout)  # fmt: skip
            after = {r["strategy"]: r for r in mb.pipeline.report()}
            out: dict[str, Any] = {
                "runs": [r.to_dict() for r in results],
                "report": list(after.values()),
            }
            if validate:
                out["validation"] = _validation(before, after, compare)
            emit_json(out)
            return
        with click.progressbar(length=total, label="running", show_pos=True) as bar:
            results = mb.pipeline.run(
                found, chosen, workers=workers, iterations=iterations, lint=not no_lint,
                wall_seconds=timeout, progress=lambda r: bar.update(1),
            )  # fmt: skip
        report = mb.pipeline.report()
        folder = mb.pipeline.folder
    _print_report(report)
    if validate:
        after = {r["strategy"]: r for r in report}
        for name, metrics in _validation(before, after, compare).items():
            line = ", ".join(
                f"{m} {v['before']:.3g} -> {v['after']:.3g} ({v['verdict']})"
                for m, v in metrics.items()
            )
            click.echo(
                f"  {name}: {line}" if metrics else f"  {name}: first runs, nothing to compare"
            )
    click.echo(f"{len(results)} runs logged to {folder / 'pipeline-log.jsonl'}; "
               f"profiles in {folder / 'profiles.json'}")  # fmt: skip


def _validation(before: dict[str, Any], after: dict[str, Any], compare: Any) -> dict[str, Any]:
    keys = ("success_rate", "avg_score", "avg_seconds")
    return {
        name: compare({k: before[name][k] for k in keys}, {k: a[k] for k in keys})
        if name in before
        else {}
        for name, a in after.items()
    }


def _print_report(report: list[dict[str, Any]]) -> None:
    table(
        None,
        ["strategy", "runs", "success rate", "avg score", "avg time", "crashed/timeout"],
        [(r["strategy"], r["runs"], f"{r['success_rate']:.1%}", f"{r['avg_score']:.1f}",
          f"{r['avg_seconds']:.2f} s", r["crashed_or_timed_out"]) for r in report],
    )  # fmt: skip


def _chart(runs: list[dict[str, Any]], path: Path) -> None:
    """Cumulative success rate of each strategy over its runs, in order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name in sorted({r["strategy"] for r in runs}):
        ok = [r["status"] == "passed" for r in runs if r["strategy"] == name]
        rate = [sum(ok[: i + 1]) / (i + 1) for i in range(len(ok))]
        ax.plot(range(1, len(rate) + 1), rate, label=name)
    ax.set_xlabel("runs")
    ax.set_ylabel("success rate so far")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@pipeline.command()
@db_option
@json_option
def status(db: Path | None, as_json: bool) -> None:
    """Strategy profiles (EMA, rate 0.4) overall and per task kind.

    \b
    Example:
      mindbank pipeline status --json
    """
    with mindbank.open(db) as mb:
        profs = mb.pipeline.status()
    if as_json:
        emit_json([p.to_dict() for p in profs])
        return
    if not profs:
        click.echo("no runs yet: `mindbank pipeline run`")
        return
    table(
        None,
        ["strategy", "kind", "uses", "success rate", "avg score", "avg time", "trend"],
        [(p.strategy, p.kind, p.uses, f"{p.success_rate:.1%}", f"{p.avg_score:.1f}",
          f"{p.avg_seconds:.2f} s", "-" if p.trend is None else f"{p.trend:+.0%}")
         for p in profs],
    )  # fmt: skip


@pipeline.command()
@click.option("--chart", type=click.Path(dir_okay=False, path_type=Path),
              help="Also draw each strategy's success rate over its runs (PNG; needs matplotlib).")  # fmt: skip
@db_option
@json_option
def report(chart: Path | None, db: Path | None, as_json: bool) -> None:
    """Per strategy over all runs: runs, success rate, score, time.

    \b
    Examples:
      mindbank pipeline report
      mindbank pipeline report --chart trend.png
    """
    if chart is not None:
        require_matplotlib("--chart")
    with mindbank.open(db) as mb:
        rows = mb.pipeline.report()
        if chart is not None:
            _chart(mb.pipeline.runs(), chart)
    if as_json:
        emit_json(rows)
    elif rows:
        _print_report(rows)
    else:
        click.echo("no runs yet")


@pipeline.command()
@click.option("--kind", default="*", show_default=True, help="Task kind (easy, medium, hard).")
@click.option("--priorities", default="balanced", show_default=True,
              type=click.Choice(["production", "prototyping", "balanced"]))  # fmt: skip
@db_option
@json_option
def select(kind: str, priorities: str, db: Path | None, as_json: bool) -> None:
    """Pick the strategy for a kind of task under priorities, and say why.

    \b
    Example:
      mindbank pipeline select --kind hard --priorities production
    """
    with mindbank.open(db) as mb:
        sel = mb.pipeline.select(kind, priorities)
    if as_json:
        emit_json(sel.to_dict())
    else:
        click.echo(sel.reason)


@pipeline.command()
@click.option("--file", "path", type=click.Path(dir_okay=False), help="A strategies file.")
def strategies(path: str | None) -> None:
    """List the built-in strategies, or those of a strategies file (JSON: name -> null for
    a built-in, a command line, or {"command", "timeout"}).

    \b
    Examples:
      mindbank pipeline strategies
      mindbank pipeline strategies --file strategies.json
    """
    from mindbank.pipeline import strategies as s

    if path is not None:
        for strat in s.load_strategies(path):
            what = strat.command or "built in"
            click.echo(f"- {strat.name}: {what}")
        return
    click.echo(s.__doc__ or "")
    for name in s.BUILTIN:
        click.echo(f"- {name}")


@pipeline.command("train-and-stream")
@click.argument("task_id")
@click.option("--tasks", "source", default="builtin", show_default=True,
              help="Where the task is: builtin, mbpp (the file MINDBANK_MBPP names), a folder "
                   "of task folders, or a .jsonl file.")  # fmt: skip
@click.option("--reliability", type=click.FloatRange(0, 1), default=0.4, show_default=True)
@click.option("--speed", type=click.FloatRange(0, 1), default=0.3, show_default=True)
@click.option("--score", type=click.FloatRange(0, 1), default=0.3, show_default=True)
@click.option("--strategies", default="conservative,balanced,aggressive", show_default=True)
@db_option
@json_option
def train_and_stream(
    task_id: str,
    source: str,
    reliability: float,
    speed: float,
    score: float,
    strategies: str,
    db: Path | None,
    as_json: bool,
) -> None:
    """Pick the strategy for TASK_ID from what the pipeline learned, run it with the task's
    real tests, record the outcome (so the next pick knows), and say how it went.

    \b
    Example:
      mindbank pipeline train-and-stream easy-add --reliability 0.7 --speed 0.1 --score 0.2
    """
    from mindbank.pipeline.strategies import parse_strategies

    found = [t for t in _tasks(source, None, None) if t.id == task_id]
    if not found:
        raise mindbank.NotFoundError(f"no task {shown(task_id)} in {source}")
    task = found[0]
    chosen = {s.name: s for s in parse_strategies([x for x in strategies.split(",") if x.strip()])}
    priorities = {"reliability": reliability, "speed": speed, "score": score}
    with mindbank.open(db) as mb:
        try:
            sel = mb.pipeline.select(task.kind, priorities, list(chosen))
            name, why = sel.strategy, sel.reason
        except mindbank.ValidationError:  # nothing learned yet: say so and start somewhere
            name, why = next(iter(chosen)), "no runs yet: starting with the first strategy"
        [result] = mb.pipeline.run([task], [chosen[name]], workers=1)
    if as_json:
        emit_json({"strategy": name, "why": why, "run": result.to_dict()})
        return
    click.echo(f"chose {name} for {task.id} ({task.kind}): {why}")
    click.echo(f"ran it: {result.status}, {result.passed} passed, {result.failed} failed, "
               f"{result.errors} errors, score {result.score:.1f}, {result.seconds:.2f} s")  # fmt: skip


@pipeline.command()
@json_option
def sandbox(as_json: bool) -> None:
    """Say what the sandbox that runs task tests contains on this machine.

    \b
    Example:
      mindbank pipeline sandbox
    """
    import os

    from mindbank.pipeline.sandbox import CPU_SECONDS, MEMORY_BYTES, PROCESSES, level

    full = level() == "namespaces"
    contained = [
        f"CPU time {CPU_SECONDS} s, address space {MEMORY_BYTES >> 30} GiB a process",
        "an environment of PATH and a private HOME only; a new session killed at the end",
    ]
    if full:
        contained += [
            "nothing outlives the run (a PID namespace)",
            "no network (a network namespace with no interface up)",
            "a read-only root; the run's folder and a private /tmp are the writable places",
            "/root and /home empty but for the interpreter (read-only)",
        ]
        if os.geteuid() == 0:
            contained.append(f"runs as nobody without capabilities; at most {PROCESSES} processes")
        else:
            contained.append(f"at most {PROCESSES} processes of this user")
    not_contained = ["reading world-readable files outside /root and /home"] if full else [
        "the network", "writes wherever this user may write", "processes that start a new "
        "session outlive the run", "as root: the process limit"]  # fmt: skip
    out = {"level": level(), "contained": contained, "not_contained": not_contained}
    if as_json:
        emit_json(out)
        return
    click.echo(f"sandbox: {out['level']}")
    for line in contained:
        click.echo(f"  contained: {line}")
    for line in not_contained:
        click.echo(f"  NOT contained: {line}")
