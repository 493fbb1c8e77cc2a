"""``mindbank neural``: train small networks on your own records, predict, version, share."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

import mindbank
from mindbank.cli.output import (
    db_option,
    emit_json,
    fail,
    fmt_time,
    json_option,
    require_matplotlib,
    table,
)

__all__ = ["neural", "print_ensemble", "read_json", "train_with_progress"]


def read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise mindbank.ValidationError(f"cannot read {what} {path}: {exc.strerror}") from None
    if path.suffix == ".jsonl":
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("{") and "\n{" in text:
            return text  # JSON Lines without the .jsonl suffix
        raise mindbank.ValidationError(f"{what} {path} is not valid JSON: {exc}") from None


def train_with_progress(
    mb: mindbank.MindBank,
    config: Any,
    data: Any,
    target: str,
    name: str | None,
    description: str = "",
) -> mindbank.ModelInfo:
    """Train with a progress bar showing each epoch's measured loss and validation accuracy."""
    total = (config.get("training") or {}).get("epochs", 50) if isinstance(config, dict) else 50
    with click.progressbar(length=int(total), label="training", show_pos=True) as bar:

        def on_epoch(e: Any) -> None:
            acc = "-" if e.val_accuracy is None else f"{e.val_accuracy:.3f}"
            bar.label = f"loss {e.train_loss:.4f} val_acc {acc}"
            bar.update(1)

        return mb.neural.train(
            config, data, target=target, name=name, description=description, on_epoch=on_epoch
        )


@click.group()
def neural() -> None:
    """Neural models trained on your own records (task outcomes, runs, metrics).

    \b
    Examples:
      mindbank neural init model.json
      mindbank neural train --model model.json --data runs.jsonl --target outcome
      mindbank neural predict task-outcome --input '{"strategy": "aggressive", "kind": "math"}'
      mindbank neural versions
    """


@neural.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default="model.json")
@click.option("--preset", help="Start from a catalog preset (see `mindbank neural catalog`).")
def init(path: Path, preset: str | None) -> None:
    """Write a starter model configuration (Claude-Flow's format) to PATH.

    \b
    Examples:
      mindbank neural init model.json
      mindbank neural init coord.json --preset adaptive-coordinator
    """
    from mindbank.neural.catalog import PRESETS, preset_config, starter_config

    if path.exists():
        fail(f"{path} exists; it was left untouched")
    if preset is not None and preset not in PRESETS:
        fail(f"no preset {preset!r}; see `mindbank neural catalog`")
    config = starter_config() if preset is None else preset_config(preset)
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    click.echo(f"wrote {path}: edit the layers and training, then `mindbank neural train`")


@neural.command()
@click.option(
    "--model", "model_path", required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--target", required=True, help="The field to predict.")
@click.option("--name", help="Model name (default: the config's modelId).")
@click.option("--description", default="", help="Kept with the version.")
@click.option("--epochs", type=click.IntRange(min=1), help="Override training.epochs.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the training curve to this PNG (needs the plot extra: matplotlib).",
)
@db_option
@json_option
def train(
    model_path: Path,
    data_path: Path,
    target: str,
    name: str | None,
    description: str,
    epochs: int | None,
    plot: Path | None,
    db: Path | None,
    as_json: bool,
) -> None:
    """Train a model on your records and store it as a new version.

    Every epoch's training loss, validation loss and validation accuracy are measured and kept.
    Without validationData, 20 % of the records are held out (stratified).

    \b
    Example:
      mindbank neural train --model model.json --data data.json --target outcome
    """
    if plot is not None:
        require_matplotlib("--plot")
    config = read_json(model_path, "model configuration")
    data = read_json(data_path, "data")
    if epochs is not None and isinstance(config, dict):
        config.setdefault("training", {})["epochs"] = epochs
    start = time.perf_counter()
    with mindbank.open(db) as mb:
        if as_json:
            info = mb.neural.train(config, data, target=target, name=name, description=description)
            history = mb.neural.history(info.name, info.version)
            if plot is not None:
                _plot(history, plot, f"{info.name} v{info.version}")
            emit_json({"model": info, "history": history})
            return
        info = train_with_progress(mb, config, data, target, name, description)
    took = time.perf_counter() - start
    if plot is not None:
        with mindbank.open(db) as mb:
            _plot(mb.neural.history(info.name, info.version), plot, f"{info.name} v{info.version}")
        click.echo(f"wrote the training curve to {plot}")
    m = info.metrics
    acc = "no validation data" if info.accuracy is None else f"{info.accuracy:.1%}"
    best = m.get("best_validation_accuracy")
    click.echo(f"trained {info.name} v{info.version}: {m.get('epochs')} epochs in {took:.2f} s")
    click.echo(f"   final validation {m.get('metric')}: {acc}")
    if best is not None:
        click.echo(f"   best validation {m.get('metric')}: {best:.1%}")
    click.echo(
        f"   records: {m.get('train_records')} training, {m.get('validation_records')} validation;"
        f" model size {info.size_bytes:,} bytes"
    )


def _plot(history: list[Any], path: Path, title: str) -> None:
    """Training and validation loss, and validation accuracy, per epoch (measured)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [e.epoch for e in history]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(epochs, [e.train_loss for e in history], label="training loss")
    if any(e.val_loss is not None for e in history):
        ax.plot(epochs, [e.val_loss for e in history], label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if any(e.val_accuracy is not None for e in history):
        ax2 = ax.twinx()
        ax2.plot(epochs, [e.val_accuracy for e in history], color="green", label="val accuracy")
        ax2.set_ylabel("validation accuracy")
    ax.legend(loc="upper right")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@neural.command()
@click.argument("name")
@click.option("--input", "input_", required=True, help="A JSON object, or a JSON list for a batch.")
@click.option("--version", type=int, help="A version other than the current one.")
@db_option
@json_option
def predict(name: str, input_: str, version: int | None, db: Path | None, as_json: bool) -> None:
    """Predict with a model: the prediction, its confidence, why, and what drove it.

    \b
    Examples:
      mindbank neural predict task-outcome --input '{"strategy": "aggressive"}'
      mindbank neural predict task-outcome --input '[{"strategy": "a"}, {"strategy": "b"}]'
    """
    try:
        record = json.loads(input_)
    except json.JSONDecodeError as exc:
        raise mindbank.ValidationError(f"--input is not valid JSON: {exc}") from None
    with mindbank.open(db) as mb:
        if isinstance(record, list):
            out: Any = mb.neural.predict_batch(name, record, version)
            if as_json:
                emit_json({"predictions": out})
            else:
                for p in out:
                    click.echo(p)
            return
        pred = mb.neural.predict(name, record, version)
    if as_json:
        emit_json(pred.to_dict())
        return
    conf = "" if pred.confidence is None else f" (confidence {pred.confidence:.1%})"
    click.echo(f"prediction: {pred.prediction}{conf}")
    click.echo(f"reasoning: {pred.reasoning}")
    for r in pred.recommendations:
        click.echo(f"  - {r}")


@neural.command()
@click.argument("name", required=False)
@db_option
@json_option
def versions(name: str | None, db: Path | None, as_json: bool) -> None:
    """List model versions with their measured validation accuracy.

    \b
    Example:
      mindbank neural versions task-outcome
    """
    with mindbank.open(db) as mb:
        vs = mb.neural.versions(name)
    if as_json:
        emit_json(vs)
        return
    if not vs:
        click.echo("no models")
        return
    table(
        None,
        ["name", "version", "current", "accuracy", "size", "created (UTC)", "description"],
        [
            (v.name, v.version, "*" if v.current else "",
             "-" if v.accuracy is None else f"{v.accuracy:.1%}", f"{v.size_bytes:,}",
             fmt_time(v.created_at), v.description)
            for v in vs
        ],
    )  # fmt: skip


@neural.command()
@click.argument("name")
@click.argument("version", type=int)
@db_option
@json_option
def load(name: str, version: int, db: Path | None, as_json: bool) -> None:
    """Make VERSION the current version of NAME (roll back or forward).

    \b
    Example:
      mindbank neural load task-outcome 2
    """
    with mindbank.open(db) as mb:
        info = mb.neural.rollback(name, version)
    if as_json:
        emit_json(info)
    else:
        click.echo(f"{info.name}: current version is now {info.version}")


@neural.command()
@click.argument("name")
@click.option("--description", required=True)
@db_option
@json_option
def save(name: str, description: str, db: Path | None, as_json: bool) -> None:
    """Save the current version of NAME as a new version with a description.

    \b
    Example:
      mindbank neural save task-outcome --description "before adding May's runs"
    """
    with mindbank.open(db) as mb:
        info = mb.neural.save(name, description)
    if as_json:
        emit_json(info)
    else:
        click.echo(f"saved {info.name} v{info.version}")


@neural.command("export")
@click.argument("name")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--version", type=int)
@db_option
def export_(name: str, path: Path, version: int | None, db: Path | None) -> None:
    """Write a model version to a .clf file (zip: header.json + weights.npz).

    \b
    Example:
      mindbank neural export task-outcome task-outcome.clf
    """
    with mindbank.open(db) as mb:
        out = mb.neural.export(name, path, version)
    click.echo(f"wrote {out} ({out.stat().st_size:,} bytes)")


@neural.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="Store under this name instead of the file's.")
@db_option
@json_option
def import_(path: Path, name: str | None, db: Path | None, as_json: bool) -> None:
    """Read a .clf file (checksum and shapes verified; nothing in it can run code).

    \b
    Example:
      mindbank neural import task-outcome.clf
    """
    with mindbank.open(db) as mb:
        info = mb.neural.import_(path, name)
    if as_json:
        emit_json(info)
    else:
        click.echo(f"imported {info.name} v{info.version}")


@neural.command()
@click.argument("name")
@click.option(
    "--per-channel", is_flag=True, help="One scale per output unit (default: per tensor)."
)
@db_option
@json_option
def quantize(name: str, per_channel: bool, db: Path | None, as_json: bool) -> None:
    """Store an int8 copy of NAME's current version; sizes and accuracy measured.

    \b
    Example:
      mindbank neural quantize task-outcome --per-channel
    """
    with mindbank.open(db) as mb:
        r = mb.neural.quantize(name, per_channel=per_channel)
    if as_json:
        emit_json(r)
        return
    before = "-" if r.accuracy_before is None else f"{r.accuracy_before:.1%}"
    after = "-" if r.accuracy_after is None else f"{r.accuracy_after:.1%}"
    click.echo(
        f"{r.model.name} v{r.model.version} ({r.scheme}): weights {r.float_bytes:,} -> "
        f"{r.int8_bytes:,} bytes (float32 -> int8, x{r.float_bytes / r.int8_bytes:.1f}); "
        f"validation accuracy {before} -> {after}"
    )


@neural.command()
@click.argument("names", nargs=-1, required=True)
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--target", required=True)
@db_option
@json_option
def ensemble(
    names: tuple[str, ...], data_path: Path, target: str, db: Path | None, as_json: bool
) -> None:
    """Measure models with the same target, alone and averaged, on the same records.

    \b
    Example:
      mindbank neural ensemble model-a model-b --data holdout.json --target outcome
    """
    data = read_json(data_path, "data")
    with mindbank.open(db) as mb:
        r = mb.neural.ensemble(list(names), data, target)
    print_ensemble(r, as_json)


def print_ensemble(r: Any, as_json: bool) -> None:
    """An ensemble report: each member's accuracy and the ensemble's, on the same records."""
    if as_json:
        emit_json(r)
        return
    for n, acc in r.members.items():
        click.echo(f"{n}: {acc:.1%}")
    click.echo(f"ensemble of {len(r.members)}: {r.ensemble:.1%} on {r.records} records")


@neural.command()
@click.option("--days", type=click.FloatRange(min=0), default=30, show_default=True)
@db_option
@json_option
def cleanup(days: float, db: Path | None, as_json: bool) -> None:
    """Delete versions (never a current one) unused for DAYS.

    \b
    Example:
      mindbank neural cleanup --days 90
    """
    with mindbank.open(db) as mb:
        gone = mb.neural.cleanup(days)
    if as_json:
        emit_json({"deleted": [list(g) for g in gone]})
    else:
        click.echo(f"deleted {len(gone)} versions")


@neural.command("memory-stats")
@db_option
@json_option
def memory_stats(db: Path | None, as_json: bool) -> None:
    """Models stored, their size, and the cache of loaded models.

    \b
    Example:
      mindbank neural memory-stats --json
    """
    with mindbank.open(db) as mb:
        s = mb.neural.memory_stats()
    if as_json:
        emit_json(s)
    else:
        click.echo(
            f"{s['models']} models, {s['versions']} versions, {s['weights_bytes']:,} bytes; "
            f"cache {s['cache']['loaded']}/{s['cache']['capacity']}"
        )


@neural.command()
@click.argument("name")
@click.option("--version", type=int)
@db_option
@json_option
def history(name: str, version: int | None, db: Path | None, as_json: bool) -> None:
    """Show a version's training history, epoch by epoch (all measured).

    \b
    Example:
      mindbank neural history task-outcome
    """
    with mindbank.open(db) as mb:
        h = mb.neural.history(name, version)
    if as_json:
        emit_json(h)
        return
    table(
        None,
        ["epoch", "train loss", "val loss", "val accuracy", "lr"],
        [
            (e.epoch, f"{e.train_loss:.5f}", "-" if e.val_loss is None else f"{e.val_loss:.5f}",
             "-" if e.val_accuracy is None else f"{e.val_accuracy:.4f}", f"{e.learning_rate:g}")
            for e in h
        ],
    )  # fmt: skip


@neural.command()
@db_option
@json_option
def catalog(db: Path | None, as_json: bool) -> None:
    """Claude-Flow's 27 named models as presets, and which you have trained (with their
    measured accuracy; an untrained preset shows no number).

    \b
    Example:
      mindbank neural catalog
    """
    with mindbank.open(db) as mb:
        rows = mb.neural.catalog()
    if as_json:
        emit_json(rows)
        return
    table(
        None,
        ["name", "category", "predicts", "from", "status", "accuracy"],
        [
            (r["name"], r["category"], r["target"], ", ".join(r["fields"]), r["status"],
             "-" if r["validation_accuracy"] is None else f"{r['validation_accuracy']:.1%}")
            for r in rows
        ],
    )  # fmt: skip


@neural.command("train-parallel")
@click.option(
    "--model",
    "model_paths",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A configuration (repeat).",
)
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--target", required=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@db_option
@json_option
def train_parallel(
    model_paths: tuple[Path, ...],
    data_path: Path,
    target: str,
    workers: int,
    db: Path | None,
    as_json: bool,
) -> None:
    """Train several configurations at once on a pool of processes and compare them.

    \b
    Example:
      mindbank neural train-parallel --model small.json --model big.json --data d.json --target y
    """
    configs = [read_json(p, "model configuration") for p in model_paths]
    data = read_json(data_path, "data")
    start = time.perf_counter()
    with mindbank.open(db) as mb:
        infos = mb.neural.train_parallel(configs, data, target=target, workers=workers)
    took = time.perf_counter() - start
    if as_json:
        emit_json({"models": infos, "seconds": took})
        return
    table(
        f"{len(infos)} models in {took:.2f} s on {workers} workers",
        ["name", "version", "epochs", "validation accuracy"],
        [(i.name, i.version, i.metrics.get("epochs"),
          "-" if i.accuracy is None else f"{i.accuracy:.1%}") for i in infos],
    )  # fmt: skip


@neural.command()
@click.argument("action", type=click.Choice(["analyze", "learn", "predict"]))
@click.argument("operation")
@click.option(
    "--pattern",
    type=click.Choice(["convergent", "divergent", "lateral", "systems", "critical", "adaptive"]),
    help="learn: the pattern the operation called for.",
)
@click.option(
    "--outcome", type=click.Choice(["success", "failure"]), help="learn: how it turned out."
)
@db_option
@json_option
def patterns(
    action: str,
    operation: str,
    pattern: str | None,
    outcome: str | None,
    db: Path | None,
    as_json: bool,
) -> None:
    """Cognitive patterns: which way of thinking OPERATION calls for (analyze), teach one
    (learn), or estimate its chance of success from what was learned (predict).

    \b
    Examples:
      mindbank neural patterns analyze "Review the pull request for SQL injection"
      mindbank neural patterns learn "Deploy the API with a canary" --pattern systems --outcome success
      mindbank neural patterns predict "Deploy the worker with a canary"
    """
    with mindbank.open(db) as mb:
        p = mb.neural.patterns
        if action == "analyze":
            out: Any = p.analyze(operation)
        elif action == "learn":
            if pattern is None:
                fail("learn needs --pattern")
                return
            out = {"learned_examples": p.learn(operation, pattern, outcome)}
        else:
            out = p.predict(operation)
    if as_json:
        emit_json(out.to_dict() if hasattr(out, "to_dict") else out)
    elif action == "analyze":
        click.echo(f"{out.pattern} (confidence {out.confidence:.1%}; "
                   f"{out.learned_examples} learned examples)")  # fmt: skip
        for name, prob in sorted(out.probabilities.items(), key=lambda t: -t[1]):
            click.echo(f"  {name:<11} {prob:6.1%}  cosine {out.similarities[name]:.3f}")
    elif action == "learn":
        click.echo(f"learned ({out['learned_examples']} examples)")
    else:
        if out.success_probability is None:
            click.echo(f"no estimate: {out.reasoning}")
        else:
            click.echo(f"success probability {out.success_probability:.1%}: {out.reasoning}")
