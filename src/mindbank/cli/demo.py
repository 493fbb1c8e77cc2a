"""``mindbank demo``: a real run of what mindbank can do today, on a scratch database.

Every figure it prints is measured in this run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import click

import mindbank
from mindbank.cli.output import table

__all__ = ["demo"]

# What a team of coding agents might have learned; namespaces group them by topic.
_LESSONS: list[tuple[str, str, str, list[str]]] = [
    (
        "architecture",
        "api-design",
        "Use REST with JSON bodies; version in the path (/v1/).",
        ["api"],
    ),
    ("architecture", "api-errors", "Return RFC 9457 problem+json for every 4xx and 5xx.", ["api"]),
    ("architecture", "api-pagination", "Cursor pagination; never offset on large tables.", ["api"]),
    ("architecture", "db-choice", "SQLite in WAL mode until many writers need a server.", ["db"]),
    (
        "architecture",
        "db-migrations",
        "Numbered, append-only migrations, one transaction each.",
        ["db"],
    ),
    ("testing", "flaky-network", "Retry with exponential backoff and jitter, then fail.", ["net"]),
    ("testing", "fixtures", "Real SQLite files under tmp_path beat mocks of our own code.", ["db"]),
    ("testing", "property-tests", "Hypothesis state machines find ordering bugs.", ["quality"]),
    (
        "debugging",
        "locked-db",
        "'database is locked': use BEGIN IMMEDIATE and a busy timeout.",
        ["db"],
    ),
    (
        "debugging",
        "slow-import",
        "Import heavy modules inside the function that needs them.",
        ["perf"],
    ),
    ("debugging", "utf8", "Open text files with encoding='utf-8' explicitly.", ["io"]),
    (
        "security",
        "secrets",
        "Never store API keys in memory; store where to find them.",
        ["secrets"],
    ),
]


# A real task with real tests, attempted two ways (the tests decide, not the demo).
_TASK = "Write a function mean(xs) that returns the average of a list of numbers (0 for [])"
_TESTS = ["assert mean([1, 2, 3]) == 2", "assert mean([1, 2]) == 1.5", "assert mean([]) == 0"]
_ATTEMPTS = {
    "floor-division": "def mean(xs):\n    return sum(xs) // len(xs)\n",
    "guarded-true-division": "def mean(xs):\n    return sum(xs) / len(xs) if xs else 0\n",
}
_RUNNER = """
import json, sys
src = json.load(sys.stdin)
g, out = {}, {"tests_passed": 0, "tests_failed": 0, "failures": []}
exec(src["code"], g)
for t in src["tests"]:
    try:
        exec(t, g)
        out["tests_passed"] += 1
    except Exception as exc:
        out["tests_failed"] += 1
        out["failures"].append({"test": t, "error": f"{type(exc).__name__}: {exc}"})
print(json.dumps(out))
"""


def _run_tests(code: str) -> dict[str, Any]:
    """Run the task's asserts against ``code`` in a fresh Python process."""
    import json
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-I", "-c", _RUNNER],
        input=json.dumps({"code": code, "tests": _TESTS}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out: dict[str, Any] = json.loads(proc.stdout)
    out["exit_code"] = 0 if out["tests_failed"] == 0 else 1
    return out


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, (time.perf_counter() - start) * 1000.0


@click.command()
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Run on this database instead of a scratch one (it is written to).",
)
def demo(db: Path | None) -> None:
    """Run a real demonstration: store, find, coordinate, learn, export, back up, report.

    Uses a scratch database in a temporary folder unless --db is given. Every time shown is
    measured in this run.

    \b
    Example:
      mindbank demo
    """
    with tempfile.TemporaryDirectory(prefix="mindbank-demo-") as tmp:
        path = db if db is not None else Path(tmp) / "memory.db"
        _run(path, Path(tmp))


def _run(path: Path, tmp: Path) -> None:
    click.secho(f"mindbank demo on {path}", bold=True)
    with mindbank.open(path) as mb:
        items = [
            {"key": k, "value": v, "namespace": ns, "tags": tags, "metadata": {"by": "demo"}}
            for ns, k, v, tags in _LESSONS
        ]
        n, ms = _timed(mb.store_many, items)
        click.echo(
            f"1. stored {n} lessons in one transaction, each embedded by {mb.embedder.identity} "
            f"on this CPU, offline ({ms:.0f} ms including loading the model)"
        )

        click.echo("   search by meaning (hybrid: meaning and keywords fused):")
        for question in (
            "another process is holding the write lock",
            "where should passwords and tokens go",
            "the connection keeps dropping, how often should I try again",
            "weird characters when reading a file",
        ):
            hits, ms = _timed(mb.search, question, k=1)
            best = hits[0]
            click.echo(
                f"   '{question}' -> {best.entry.namespace}/{best.entry.key} "
                f"(score {best.score:.2f}, semantic {best.semantic:.2f}; {ms:.1f} ms)"
            )
        words = mb.search("another process is holding the write lock", k=1, mode="keyword")
        click.echo(
            "   the first question by keywords alone finds: "
            + (f"{words[0].entry.key}" if words else "nothing (no shared words)")
        )

        entries, ms = _timed(mb.list, namespace="architecture", pattern="api-*")
        click.echo(f"2. keys matching architecture/api-* ({ms:.2f} ms):")
        table(None, ["key", "value"], [(e.key, e.value) for e in entries])

        tagged, ms = _timed(mb.list, tags=["db"])
        click.echo(f"3. every lesson tagged 'db' ({ms:.2f} ms): {', '.join(e.key for e in tagged)}")

        for _ in range(3):
            mb.retrieve("locked-db", namespace="debugging")
        hit, ms = _timed(mb.retrieve, "locked-db", namespace="debugging")
        click.echo(
            f"4. retrieved debugging/locked-db ({ms:.3f} ms), used {hit.access_count} times: "
            f"{hit.value}"
        )

        mb.store("scratch-note", "gone in a moment", namespace="tmp", ttl=0.05)
        time.sleep(0.06)
        gone = mb.retrieve("scratch-note", namespace="tmp")
        click.echo(f"5. an entry with a 50 ms TTL, read 60 ms later: {gone!r}")

        first = mb.shared.set("release-plan", {"stage": "testing"}, expected_version=0)
        try:
            mb.shared.set("release-plan", {"stage": "deploy"}, expected_version=0)
            outcome = "overwrote (wrong!)"
        except mindbank.ConflictError as exc:
            outcome = f"refused: {exc}"
        click.echo(f"6. shared state v{first.version}; a stale writer was {outcome}")

        mb.tasks.create("design the API", id="design", priority="high")
        mb.tasks.create("implement it", id="build", depends_on=["design"])
        try:
            mb.tasks.update("build", status="in_progress")
        except mindbank.ConflictError as exc:
            click.echo(f"7. starting 'build' early was refused: {exc}")
        mb.tasks.update("design", status="completed", result={"doc": "api.md"})
        click.echo(f"   after 'design' completed, ready: {[t.id for t in mb.tasks.ready()]}")

        for _ in range(200):
            _, ms = _timed(mb.retrieve, "api-design", namespace="architecture")
            mb.metrics.record("retrieve_ms", ms)
        s = mb.metrics.aggregate("retrieve_ms", window=60)
        click.echo(
            f"8. 200 retrieves measured: p50 {s.p50:.4f} ms, p95 {s.p95:.4f} ms "
            f"(max {s.maximum:.4f} ms)"
        )

        export_path = tmp / "export.jsonl"
        n_out, ms = _timed(mb.export, export_path)
        with mindbank.open(tmp / "copy.db") as copy:
            copy.import_(export_path)
            again = tmp / "again.jsonl"
            copy.export(again)
        same = export_path.read_bytes() == again.read_bytes()
        click.echo(
            f"9. exported {n_out} entries ({ms:.2f} ms); imported into a fresh database and "
            f"exported again: {'identical' if same else 'DIFFERENT'}"
        )

        size, ms = _timed(mb.backup, tmp / "backup.db")
        with mindbank.open(tmp / "backup.db") as b:
            report = b.check()
            copied = b.count()
        click.echo(
            f"10. online backup: {size:,} bytes in {ms:.2f} ms; integrity "
            f"{'ok' if report.ok else report.problems}; {copied} entries inside"
        )

        usage = mb.analytics(window="1h", top=3)
        click.echo("11. usage over the last hour:")
        table(
            None,
            ["namespace", "entries", "accesses"],
            [(u.namespace, u.entries, u.total_accesses) for u in usage.namespaces],
        )
        click.echo(
            "    hottest: "
            + ", ".join(f"{h.namespace}/{h.key} ({h.access_count})" for h in usage.hot_keys)
        )
        click.echo("12. learning from real test results (the ReasoningBank):")
        for strategy, code in _ATTEMPTS.items():
            outcome, ms = _timed(_run_tests, code)
            rec = mb.bank.record_trajectory(
                _TASK,
                [{"action": f"wrote {code.splitlines()[1].strip()}"}],
                outcome=outcome,
                strategy=strategy,
                kind="numeric",
                duration=ms / 1000.0,
            )
            v = rec.trajectory.verdict
            click.echo(
                f"    {strategy}: {outcome['tests_passed']}/{len(_TESTS)} tests passed "
                f"({ms:.0f} ms) -> verdict {v.label} (from {v.source}), "
                f"{len(rec.items)} item(s) distilled"
            )
        new_task = "compute the arithmetic mean of some measurements"
        for strategy in _ATTEMPTS:
            hits, ms = _timed(mb.bank.query, new_task, strategy=strategy, k=1)
            h = hits[0]
            click.echo(
                f"    new task '{new_task}' with {strategy} ({ms:.1f} ms): "
                f"[{h.item.outcome}] {h.item.title[:70]} (score {h.score:.2f})"
            )
        pitfall = mb.bank.query(new_task, strategy="floor-division", k=1)[0].item
        heeded = mb.bank.record_trajectory(
            new_task,
            outcome=_run_tests(_ATTEMPTS["guarded-true-division"]),
            strategy="guarded-true-division",
            used=[pitfall.id],
        )
        click.echo(
            f"    heeding the pitfall and passing raised its confidence "
            f"{pitfall.confidence:.2f} -> {heeded.updated[0].confidence:.2f}"
        )
        bs = mb.bank.status()
        click.echo(
            f"    bank: {bs.total_memories} items, {bs.total_trajectories} trajectories "
            f"{dict(bs.verdicts)}, average confidence {bs.avg_confidence:.2f}"
        )
        st = mb.stats()
        click.echo(
            f"13. database: {st.file_bytes + st.wal_bytes:,} bytes, schema v{st.schema_version}"
        )
    click.secho("done: every figure above was measured in this run.", bold=True)
