"""``mindbank training``: Claude-Flow's training commands, each doing what it says.

Options Claude-Flow lists that mindbank does not implement are refused with the reason
(exit 2), never accepted silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

import mindbank
from mindbank.cli.neural import print_ensemble, read_json, train_with_progress
from mindbank.cli.output import db_option, emit_json, fail, json_option, table

__all__ = ["training"]

F = TypeVar("F", bound=Callable[..., Any])


def refused(why: str, *flags: str) -> Callable[[F], F]:
    """Hidden flags from Claude-Flow that mindbank does not implement: using one fails with
    ``why``."""

    def refuse(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value:
            raise click.UsageError(f"{param.opts[0]} is not implemented in mindbank: {why}", ctx)

    def wrap(f: F) -> F:
        for flag in flags:
            f = click.option(flag, is_flag=True, hidden=True, expose_value=False, callback=refuse)(
                f
            )
        return f

    return wrap


def _is_db(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _config(model: Path | None, name: str, head: str, epochs: int | None) -> dict[str, Any]:
    from mindbank.neural.catalog import starter_config

    config = read_json(model, "model configuration") if model else starter_config(name, head)
    if not isinstance(config, dict):
        raise mindbank.ValidationError("the model configuration must be a JSON object")
    if epochs is not None:
        config.setdefault("training", {})["epochs"] = epochs
    return config


@click.group()
def training() -> None:
    """Train, learn patterns and update models from what your agents did.

    \b
    Examples:
      mindbank training neural-train --from pipeline --pattern-type prediction
      mindbank training pattern-learn --failure-analysis
      mindbank training model-update pipeline-prediction --from pipeline
      mindbank training model-update pipeline-prediction --online --data stream.jsonl
    """


# -- neural-train ------------------------------------------------------------------------------


@training.command("neural-train")
@click.option(
    "--pattern-type",
    type=click.Choice(["prediction", "coordination", "optimization"]),
    default="prediction",
    show_default=True,
    help="With --from pipeline: what to learn from the runs (whether a run passes, which "
    "strategy to assign a task kind, how long a run takes).",
)
@click.option("--data", "data_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Training records (JSON, JSON Lines); needs --target.")  # fmt: skip
@click.option("--from", "source", type=click.Choice(["pipeline"]),
              help="Train on the training pipeline's runs in this database.")  # fmt: skip
@click.option("--federated", "participants", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Federated averaging: a participant's database (its pipeline runs) or "
              "records file; give it two or more times.")  # fmt: skip
@click.option("--target", help="The field to predict (default: from the pattern type).")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
              help="A model configuration (default: the starter architecture).")  # fmt: skip
@click.option("--name", help="Model name (default: pipeline-<pattern type>, or the config's).")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs (federated: per round).")
@click.option("--rounds", type=click.IntRange(min=1), default=10, show_default=True,
              help="Federated rounds.")  # fmt: skip
@refused("training runs on numpy on the CPU", "--acceleration", "--wasm-simd",
         "--optimization-acceleration")  # fmt: skip
@refused("to train several configurations at once use `mindbank neural train-parallel`",
         "--parallel-processing")  # fmt: skip
@refused("use --federated DB_OR_FILE (twice or more) for federated averaging",
         "--distributed-training", "--distributed-learning", "--federated-learning",
         "--agent-collaboration", "--knowledge-sharing")  # fmt: skip
@refused("no differential privacy or secure aggregation: federated averaging shares weights "
         "and feature summaries in the clear", "--privacy-preserving")  # fmt: skip
@refused("architectures are fixed by the configuration; nothing evolves them",
         "--adaptive-evolution", "--self-optimization", "--continuous-improvement",
         "--meta-learning")  # fmt: skip
@db_option
@json_option
def neural_train(
    pattern_type: str,
    data_path: Path | None,
    source: str | None,
    participants: tuple[Path, ...],
    target: str | None,
    model_path: Path | None,
    name: str | None,
    epochs: int | None,
    rounds: int,
    db: Path | None,
    as_json: bool,
) -> None:
    """Train a model on records: a file, the pipeline's runs, or several participants'
    records by federated averaging.

    \b
    Examples:
      mindbank training neural-train --from pipeline --pattern-type prediction
      mindbank training neural-train --data runs.jsonl --target outcome --name outcome
      mindbank training neural-train --federated a.db --federated b.db --pattern-type prediction
    """
    from mindbank.neural.sources import PATTERN_TYPES

    chosen = sum(x is not None and x != () for x in (data_path, source, participants or None))
    if chosen != 1:
        fail("give exactly one of --data FILE, --from pipeline, --federated SRC")
    default_target, head = PATTERN_TYPES[pattern_type]
    with mindbank.open(db) as mb:
        if participants:
            if len(participants) < 2:
                fail("--federated needs two or more participants")
            tgt = target or default_target
            parts = []
            for p in participants:
                if _is_db(p):
                    with mindbank.open(p) as other:
                        records, tgt, head, _ = other.neural.pipeline_records(pattern_type)
                    parts.append((p.stem, records))
                else:
                    parts.append((p.stem, read_json(p, "records")))
            model_name = name or f"federated-{pattern_type}"
            config = _config(model_path, model_name, head, None)
            local = epochs or 1
            if as_json:
                fed = mb.neural.federated(
                    parts, config, target=tgt, name=model_name, rounds=rounds, local_epochs=local
                )
                emit_json(fed)
                return
            with click.progressbar(length=rounds, label="federated rounds", show_pos=True) as bar:

                def on_round(r: int, acc: float) -> None:
                    bar.label = f"round {r}: accuracy {acc:.3f}"
                    bar.update(1)

                fed = mb.neural.federated(
                    parts, config, target=tgt, name=model_name, rounds=rounds,
                    local_epochs=local, on_round=on_round,
                )  # fmt: skip
            _print_federated(fed)
            return
        watermarks: dict[str, int] = {}
        if source == "pipeline":
            data, tgt, head, last = mb.neural.pipeline_records(pattern_type)
            if not data:
                fail("no pipeline runs to learn from yet: run `mindbank pipeline run` first")
            if target is not None and target != tgt:
                fail(f"--pattern-type {pattern_type} learns {tgt!r}; leave --target out")
            model_name = name or f"pipeline-{pattern_type}"
            watermarks["pipeline_runs"] = last
        else:
            assert data_path is not None
            if target is None:
                fail("--data needs --target (the field to predict)")
            data, tgt = read_json(data_path, "data"), str(target)
            model_name = name or ""
        config = _config(model_path, model_name or "task-outcome", head, epochs)
        if as_json:
            info = mb.neural.train(config, data, target=tgt, name=model_name or None)
        else:
            info = train_with_progress(mb, config, data, tgt, model_name or None)
        if watermarks:
            info = mb.neural.set_watermarks(info.name, watermarks)
    if as_json:
        emit_json({"model": info})
        return
    acc = "no validation data" if info.accuracy is None else f"{info.accuracy:.3f}"
    click.echo(
        f"trained {info.name} v{info.version} to predict {info.target}: validation "
        f"{info.metrics.get('metric')} {acc} on {info.metrics.get('validation_records')} records"
    )


def _print_federated(fed: Any) -> None:
    click.echo(
        f"federated {fed.model.name} v{fed.model.version}: {len(fed.rounds)} rounds over "
        f"{len(fed.participants)} participants in {fed.seconds:.2f} s"
    )
    rows = [("federated (FedAvg)", f"{fed.federated:.3f}")]
    if fed.pooled is not None:
        rows.append(("pooled (all records in one place)", f"{fed.pooled:.3f}"))
    rows += [(f"{label} alone", f"{acc:.3f}") for label, acc in fed.isolated.items()]
    table(f"accuracy on {fed.held_out} held-out records of all participants",
          ["training", "accuracy"], rows)  # fmt: skip


# -- pattern-learn -----------------------------------------------------------------------------


@training.command("pattern-learn")
@click.option("--success-patterns", is_flag=True, help="Show only the patterns of success.")
@click.option("--failure-analysis", "--anti-pattern-detection", "failures", is_flag=True,
              help="Show only anti-patterns, with the failures behind each.")  # fmt: skip
@click.option("--min-support", type=click.IntRange(min=2), default=5, show_default=True,
              help="Judged trajectories a pattern needs.")  # fmt: skip
@click.option("--min-gain", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="How much a pair must add to each of its attributes alone.")  # fmt: skip
@click.option("-n", "--namespace", help="Only trajectories of this namespace.")
@click.option("--into", default="learned-patterns", show_default=True,
              help="ReasoningBank namespace the patterns are stored in.")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Report, store nothing.")
@refused("the mining counts attributes and pairs of the judged trajectories; nothing deeper",
         "--deep-analysis", "--predictive-modeling", "--coordination-analysis",
         "--efficiency-learning", "--optimization-focus", "--continuous-learning",
         "--prevention-learning")  # fmt: skip
@refused("patterns are not transferred between domains; for models use "
         "`mindbank training model-update NEW --transfer SOURCE`", "--cross-domain-transfer",
         "--knowledge-generalization", "--adaptive-application")  # fmt: skip
@db_option
@json_option
def pattern_learn(
    success_patterns: bool,
    failures: bool,
    min_support: int,
    min_gain: float,
    namespace: str | None,
    into: str,
    dry_run: bool,
    db: Path | None,
    as_json: bool,
) -> None:
    """Mine the judged trajectories (every pipeline run is one) for the strategies, task kinds,
    agents and contexts that go with success or failure, and store them in the ReasoningBank.

    \b
    Examples:
      mindbank training pattern-learn
      mindbank training pattern-learn --failure-analysis --min-support 10
    """
    with mindbank.open(db) as mb:
        total, base, found = mb.bank.learn_patterns(
            min_support=min_support, min_gain=min_gain, namespace=namespace,
            store=not dry_run, into=into,
        )  # fmt: skip
    if success_patterns:
        found = [p for p in found if p.label == "success"]
    if failures:
        found = [p for p in found if p.label == "failure"]
    if as_json:
        emit_json({"trajectories": total, "base_rate": base, "patterns": found})
        return
    if total == 0:
        click.echo("no judged trajectories yet: nothing to learn from")
        return
    click.echo(f"{total} judged trajectories, {base:.0%} succeeded")
    if not found:
        click.echo(f"no pattern with support >= {min_support} differs from that rate")
        return
    for p in found:
        mark = "+" if p.label == "success" else "-"
        click.echo(f"{mark} {p.text}")
        if failures or p.label == "failure":
            for reason, count in p.reasons:
                click.echo(f"      {count} x {reason}")
            click.echo("      evidence: " + ", ".join(f"#{i}" for i in p.evidence[:10]))
    if not dry_run:
        click.echo(f"stored {len(found)} patterns in namespace {into!r}")


# -- model-update ------------------------------------------------------------------------------


@training.command("model-update")
@click.argument("name")
@click.option("--data", "data_path", type=click.Path(dir_okay=False, path_type=Path),
              help="New records (JSON, JSON Lines).")  # fmt: skip
@click.option("--from", "source", type=click.Choice(["pipeline"]),
              help="The pipeline runs stored since the model last learned from them.")  # fmt: skip
@click.option("--performance-data", is_flag=True, help="The same as --from pipeline.")
@click.option("--pattern-type", type=click.Choice(["prediction", "coordination", "optimization"]),
              default="prediction", show_default=True,
              help="With --from pipeline: what the model learns (as when it was trained).")  # fmt: skip
@click.option("--incremental", "--incremental-update", "--incremental-learning", is_flag=True,
              help="Continue training from the current weights (the default).")  # fmt: skip
@click.option("--online", "--online-adaptation", is_flag=True,
              help="Update after every --every records, each bounded by --max-step.")  # fmt: skip
@click.option("--every", type=click.IntRange(min=5), default=50, show_default=True)
@click.option("--max-step", type=click.FloatRange(min=0, min_open=True), default=0.1,
              show_default=True, help="Online: the most a layer may move, relative to its size.")  # fmt: skip
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--tolerance", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="How much worse an update may be and still be kept.")  # fmt: skip
@click.option("--transfer", "transfer_from", metavar="SOURCE",
              help="Train NAME as a new model from SOURCE's hidden layers (needs --data and "
              "--target), compared with training from scratch.")  # fmt: skip
@click.option("--freeze/--no-freeze", default=True, show_default=True,
              help="Transfer: keep SOURCE's layers as they are.")  # fmt: skip
@click.option("--target", help="Transfer or ensemble: the field to predict.")
@click.option("--ensemble", "members", multiple=True, metavar="MODEL",
              help="Measure NAME with these models, alone and averaged, on --data.")  # fmt: skip
@click.option("--rollback", type=click.IntRange(min=1), metavar="VERSION",
              help="Make VERSION the current one again.")  # fmt: skip
@refused("updates train on records: use --data FILE or --from pipeline", "--adaptive-learning",
         "--comprehensive-update", "--continuous-adaptation", "--real-time-updates")  # fmt: skip
@refused("use --ensemble MODEL (once per member) with --data and --target",
         "--ensemble-learning", "--model-combination", "--diversity-optimization")  # fmt: skip
@refused("use --transfer SOURCE with --data and --target", "--transfer-learning",
         "--knowledge-reuse", "--domain-adaptation")  # fmt: skip
@db_option
@json_option
def model_update(
    name: str,
    data_path: Path | None,
    source: str | None,
    performance_data: bool,
    pattern_type: str,
    incremental: bool,
    online: bool,
    every: int,
    max_step: float,
    epochs: int,
    tolerance: float,
    transfer_from: str | None,
    freeze: bool,
    target: str | None,
    members: tuple[str, ...],
    rollback: int | None,
    db: Path | None,
    as_json: bool,
) -> None:
    """Update a model from new records: incrementally (kept only if not worse on the same
    held-out records, else rolled back), online, by transfer, as an ensemble, or roll back.

    \b
    Examples:
      mindbank training model-update pipeline-prediction --from pipeline
      mindbank training model-update outcome --data new.jsonl --tolerance 0.01
      mindbank training model-update outcome --online --data stream.jsonl --every 50
      mindbank training model-update speed --transfer outcome --data speed.jsonl --target speed
      mindbank training model-update outcome --ensemble outcome-b --data holdout.json --target outcome
      mindbank training model-update outcome --rollback 2
    """
    if performance_data:
        source = "pipeline"
    modes = [m for m, on in (("online", online), ("transfer", transfer_from is not None),
                             ("ensemble", bool(members)), ("rollback", rollback is not None))
             if on]  # fmt: skip
    if len(modes) > 1:
        fail(f"choose one of --online, --transfer, --ensemble, --rollback (got {', '.join(modes)})")
    if incremental and modes:
        fail(f"--incremental and --{modes[0]} are different updates; choose one")
    with mindbank.open(db) as mb:
        if rollback is not None:
            info = mb.neural.rollback(name, rollback)
            if as_json:
                emit_json({"model": info})
            else:
                click.echo(f"{name}: v{info.version} is current again")
            return
        data: Any = None
        watermarks: dict[str, int] = {}
        if source == "pipeline":
            if modes and modes[0] in ("transfer", "ensemble"):
                fail("--from pipeline feeds --incremental and --online; give --data here")
            after = int((mb.neural.info(name).metrics.get("watermarks") or {}).get(
                "pipeline_runs", 0))  # fmt: skip
            data, _, _, last = mb.neural.pipeline_records(pattern_type, after)
            if not data:
                msg = f"no new pipeline runs since run #{after}: {name} is up to date"
                if as_json:
                    emit_json({"updates": [], "message": msg})
                else:
                    click.echo(msg)
                return
            watermarks["pipeline_runs"] = last
        elif data_path is not None:
            data = read_json(data_path, "data")
        else:
            fail("give the new records: --data FILE or --from pipeline")
        if transfer_from is not None:
            if target is None:
                fail("--transfer needs --target")
            r = mb.neural.transfer(
                transfer_from, data, target=str(target), name=name, freeze=freeze
            )
            if as_json:
                emit_json(r)
                return
            d = r.to_dict()
            click.echo(f"{name} v{r.model.version} from {r.source}'s hidden layers "
                       f"({'frozen' if freeze else 'fine-tuned'})")  # fmt: skip
            table(None, ["start", "final", "best", f"epochs to {d['level']:.3f}", "seconds"], [
                ("transferred", f"{d['transfer_final']:.3f}", f"{d['transfer_best']:.3f}",
                 d["transfer_epochs_to_level"] or "never", f"{r.transfer_seconds:.2f}"),
                ("from scratch", f"{d['scratch_final']:.3f}", f"{d['scratch_best']:.3f}",
                 d["scratch_epochs_to_level"] or "never", f"{r.scratch_seconds:.2f}"),
            ])  # fmt: skip
            return
        if members:
            if target is None:
                fail("--ensemble needs --target")
            print_ensemble(mb.neural.ensemble([name, *members], data, str(target)), as_json)
            return
        if online:
            records = _as_records(data)
            rows: list[Any] = []
            sink: Any = _Null() if as_json else None
            with click.progressbar(
                length=len(records) // every, label="online updates", show_pos=True, file=sink
            ) as bar:

                def on_update(r: Any) -> None:
                    bar.label = f"v{r.to_version}: {r.before:.3f} -> {r.after:.3f}"
                    bar.update(1)

                rows, waiting = mb.neural.update_online(
                    name, records, every=every, max_step=max_step,
                    epochs=min(epochs, 5), tolerance=tolerance, on_update=on_update,
                )  # fmt: skip
            if watermarks and rows and not waiting:
                mb.neural.set_watermarks(name, watermarks)
            if as_json:
                emit_json({"updates": rows, "waiting": waiting})
                return
            _print_updates(rows)
            if waiting:
                click.echo(f"{waiting} records wait for the next update (every {every})")
            return
        u = mb.neural.update(
            name, data, epochs=epochs, tolerance=tolerance, watermarks=watermarks or None
        )
    if as_json:
        emit_json({"updates": [u]})
        return
    _print_updates([u])


class _Null:
    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass


def _as_records(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, str):
        return [json.loads(line) for line in data.splitlines() if line.strip()]
    if isinstance(data, dict):
        data = list(data.get("trainingData") or [])
    if not isinstance(data, list):
        raise mindbank.ValidationError("online updates read a list of records or JSON Lines")
    return data


def _print_updates(rows: list[Any]) -> None:
    table(
        None,
        ["from", "to", "records", "held out", "before", "after", "max move", "result"],
        [
            (f"v{r.from_version}", f"v{r.to_version}", r.records, r.held_out,
             f"{r.before:.3f}", f"{r.after:.3f}", f"{r.max_move:.3f}",
             "kept" if r.kept else f"rolled back to v{r.current}")
            for r in rows
        ],
    )  # fmt: skip
