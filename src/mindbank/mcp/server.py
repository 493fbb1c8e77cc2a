"""The MCP server: mindbank's engine as tools an agent can call.

A thin adapter: each tool validates nothing the engine does not, calls one engine method and
returns its records as JSON. Tools exist only for capabilities that are built; there are no
stubs. Database work runs on a pool of four threads, each with its own handle, so a slow call
does not hold up the others; every call has a time limit (``MINDBANK_MCP_TIMEOUT``, 300 s), and
training and pipeline runs stop between steps when it passes or the client cancels. Errors come back as tool errors: a mindbank error as its one-line message
(naming the argument), anything else as an error result; the server keeps running.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

import mindbank
from mindbank.errors import shown

__all__ = ["build_server"]

T = TypeVar("T")

INSTRUCTIONS = """mindbank is this project's long-term memory. Store what you learn with
memory_store (a short key, the lesson as the value, a namespace per topic, tags). Before you
start a task, memory_search for what was learned before: it finds entries by meaning, not only
by their words. memory_retrieve reads one entry by key (memory_retrieve_many several at once);
memory_list lists keys by prefix.
For lessons about how to do tasks: pattern_search with the new task before you start (it
returns what worked and what failed on similar tasks); after the attempt, trajectory_record
what you did and how it ended (test results if you have them; the ids of the patterns you
used), so the bank learns which lessons help."""


class _Worker:
    """Runs engine calls on a small pool of threads, each with a handle of its own on the
    database (handles and threads are safe together: docs/memory-store.md), so one slow call
    (a training, a pipeline run) does not hold up the others. Every call has a time limit;
    a call that passes it, or that its client cancels, is answered at once, and the calls
    that can stop (training between epochs, the pipeline between runs) are told to."""

    def __init__(self, db: Path | str | None, threads: int = 4, timeout: float | None = None):
        self._db = db
        self.timeout = timeout if timeout is not None else _timeout_from_env()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="mindbank"
        )
        self._local = threading.local()
        self._handles: list[mindbank.MindBank] = []
        self._handles_lock = threading.Lock()

    def _bank(self) -> mindbank.MindBank:
        mb: mindbank.MindBank | None = getattr(self._local, "mb", None)
        if mb is None:
            mb = self._local.mb = mindbank.open(self._db)
            with self._handles_lock:
                self._handles.append(mb)
        return mb

    async def run(
        self, fn: Callable[[mindbank.MindBank], T], *, stop: threading.Event | None = None
    ) -> T:
        """Run ``fn`` on a worker thread; ``stop`` is set when the call is cancelled or runs
        past the time limit (a call that can stop checks it)."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, lambda: fn(self._bank()))
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            if stop is not None:
                stop.set()
            what = "was stopped" if stop is not None else "is abandoned (its result is dropped)"
            raise ToolError(
                f"the call ran past its time limit of {self.timeout:g} s and {what}; "
                "MINDBANK_MCP_TIMEOUT sets the limit"
            ) from None
        except asyncio.CancelledError:
            if stop is not None:
                stop.set()
            raise
        except mindbank.MindbankError as exc:
            raise ToolError(str(exc)) from exc

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._handles_lock:
            for mb in self._handles:
                mb.close()
            self._handles.clear()


def _timeout_from_env() -> float:
    text = os.environ.get("MINDBANK_MCP_TIMEOUT", "300")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86_400:
        raise mindbank.ValidationError(
            f"MINDBANK_MCP_TIMEOUT must be seconds from 0 to 86400, got {shown(text)}"
        )
    return value


def _stopped(stop: threading.Event) -> None:
    """Raise if the call was cancelled or ran past its time limit (checked between steps)."""
    if stop.is_set():
        raise mindbank.CommandError("stopped: the call was cancelled or ran past its time limit")


def _entry(e: mindbank.Entry | None) -> dict[str, Any] | None:
    return None if e is None else e.to_dict()


def _hits(hits: list[mindbank.SearchHit]) -> list[dict[str, Any]]:
    return [h.to_dict() for h in hits]


def build_server(db: str | os.PathLike[str] | None = None) -> tuple[MCPServer, Callable[[], None]]:
    """Build the MCP server over the database at ``db`` (default: found like the CLI does).

    Returns:
        The server and a function that closes the database.
    """
    from mindbank.store.postgres import is_url

    worker = _Worker(str(db) if is_url(db) else Path(db) if db is not None else None)
    server = MCPServer(
        name="mindbank",
        title="mindbank: local memory for agents",
        version=mindbank.__version__,
        instructions=INSTRUCTIONS,
    )

    @server.tool()
    async def memory_store(
        key: str,
        value: Any,
        namespace: str = "default",
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        ttl: float | None = None,
    ) -> dict[str, Any]:
        """Store a value (text or any JSON) under key in a namespace, replacing any previous
        value. It is embedded for search by meaning. ttl: seconds until it expires (optional).
        Returns the stored entry."""
        entry = await worker.run(
            lambda mb: mb.store(
                key, value, namespace=namespace, tags=tags, metadata=metadata, ttl=ttl
            )
        )
        return entry.to_dict()

    @server.tool()
    async def memory_retrieve(key: str, namespace: str = "default") -> dict[str, Any]:
        """Read the entry stored under key (counts as a use of it). Returns {"found": false}
        when there is none or it expired."""
        entry = await worker.run(lambda mb: mb.retrieve(key, namespace=namespace))
        return {"found": entry is not None, "entry": _entry(entry)}

    @server.tool()
    async def memory_retrieve_many(keys: list[str], namespace: str = "default") -> dict[str, Any]:
        """Read the entries stored under several keys of one namespace at once (each counts
        as a use of it), in one read of the database. Returns the entries found, in the order
        asked, and the keys with none (or an expired one) under "missing"."""
        found = await worker.run(lambda mb: mb.retrieve_many(keys, namespace=namespace))
        return {
            "entries": [e.to_dict() for e in found.values()],
            "missing": [k for k in dict.fromkeys(keys) if k not in found],
        }

    @server.tool()
    async def memory_search(
        query: str,
        k: int = 10,
        mode: Literal["hybrid", "semantic", "keyword"] = "hybrid",
        namespace: str | None = None,
        tags: list[str] | None = None,
        min_score: float | None = None,
        mmr: float | None = None,
    ) -> dict[str, Any]:
        """Find entries by meaning and keywords (mode "hybrid", the default), by meaning only
        ("semantic") or by words only ("keyword"). Filters apply inside the search. mmr (0-1,
        weight of relevance) diversifies results. Each hit has its score and the score's
        semantic and keyword parts."""
        hits = await worker.run(
            lambda mb: mb.search(
                query, k=k, mode=mode, namespace=namespace, tags=tags, min_score=min_score, mmr=mmr
            )
        )
        return {"query": query, "mode": mode, "hits": _hits(hits)}

    @server.tool()
    async def memory_list(
        namespace: str | None = None,
        pattern: str | None = None,
        tags: list[str] | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> dict[str, Any]:
        """List entries ordered by key: one namespace or all, a key pattern (GLOB: api-*,
        user-?), entries carrying all the given tags."""

        def run(mb: mindbank.MindBank) -> dict[str, Any]:
            entries = mb.list(
                namespace=namespace, pattern=pattern, tags=tags, limit=limit, offset=offset
            )
            total = mb.count(namespace=namespace, pattern=pattern, tags=tags)
            return {"total": total, "entries": [e.to_dict() for e in entries]}

        return await worker.run(run)

    @server.tool()
    async def memory_delete(key: str, namespace: str = "default") -> dict[str, Any]:
        """Delete the entry under key. Returns whether a live entry was deleted."""
        deleted = await worker.run(lambda mb: mb.delete(key, namespace=namespace))
        return {"deleted": deleted, "key": key, "namespace": namespace}

    @server.tool()
    async def memory_usage(
        action: Literal["store", "retrieve", "list", "delete", "search"],
        key: str | None = None,
        value: Any = None,
        namespace: str = "default",
        ttl: float | None = None,
        query: str | None = None,
        limit: int = 10,
    ) -> dict[str, Any]:
        """One tool for every memory action: store (key, value, namespace, ttl), retrieve (key), list (namespace), delete (key), search
        (query)."""
        if action in ("store", "retrieve", "delete") and not key:
            raise ToolError(f"argument 'key' is required for action {shown(action)}")
        if action == "store":
            if value is None:
                raise ToolError("argument 'value' is required for action 'store'")
            assert key is not None
            return {"action": action, **await memory_store(key, value, namespace, ttl=ttl)}
        if action == "retrieve":
            assert key is not None
            return {"action": action, **await memory_retrieve(key, namespace)}
        if action == "delete":
            assert key is not None
            return {"action": action, **await memory_delete(key, namespace)}
        if action == "list":
            return {"action": action, **await memory_list(namespace=namespace, limit=limit)}
        if not query:
            raise ToolError("argument 'query' is required for action 'search'")
        return {"action": action, **await memory_search(query, k=limit, namespace=namespace)}

    @server.tool()
    async def memory_stats() -> dict[str, Any]:
        """Database size, rows per table, entries per namespace, the search indexes' state."""

        def run(mb: mindbank.MindBank) -> dict[str, Any]:
            return {"stats": mb.stats().to_dict(), "index": mb.index_status().to_dict()}

        return await worker.run(run)

    @server.tool()
    async def memory_reindex(ctx: Context, reembed: bool = False) -> dict[str, Any]:
        """Bring the search indexes up to date: rebuild the full-text index and embed every
        entry that lacks a vector; with reembed, recompute every vector (after changing the
        embedder). Long: reports progress as entries are embedded."""
        loop = asyncio.get_running_loop()

        def progress(total: int) -> Callable[[int], None]:
            def report(done: int) -> None:
                asyncio.run_coroutine_threadsafe(
                    ctx.report_progress(done, total, f"embedded {done} of {total}"), loop
                ).result()

            return report

        def run(mb: mindbank.MindBank) -> dict[str, Any]:
            if reembed:
                total = mb.count()
                embedded = mb.reembed(progress(total))
            else:
                total = mb.index_status().missing
                embedded = mb.rebuild_index(progress(total))
            return {"embedded": embedded, "index": mb.index_status().to_dict()}

        return await worker.run(run)

    @server.tool()
    async def feedback_record(
        key: str, reward: float, namespace: str = "default", query: str | None = None
    ) -> dict[str, Any]:
        """Say how useful a memory entry was for what you were doing: reward from -1
        (misleading) to 1 (exactly what was needed), and the query it was for. It moves the
        entry's learned boost, which memory_search adds to its score. (Retrieving an entry that
        memory_search just showed you already counts as +1.) Returns the entry's boost, uses
        and skips."""
        score = await worker.run(
            lambda mb: mb.feedback(key, reward, namespace=namespace, query=query)
        )
        return score.to_dict()

    @server.tool()
    async def pattern_store(
        key: str,
        value: Any,
        namespace: str = "default",
        confidence: float | None = None,
        description: str = "",
        agent: str | None = None,
        strategy: str | None = None,
        outcome: Literal["success", "failure"] | None = None,
    ) -> dict[str, Any]:
        """Store a reasoning item (a lesson, a decision) under key in a namespace, with a
        confidence in [0, 1] (default 0.8) and a description of when to use it and when not;
        strategy and outcome (success: what worked, failure: a pitfall) if it is about one.
        Storing the key again replaces its text. Returns the item."""
        item = await worker.run(
            lambda mb: mb.bank.store(
                key,
                value,
                namespace=namespace,
                confidence=confidence,
                description=description,
                agent=agent,
                strategy=strategy,
                outcome=outcome,
            )
        )
        return item.to_dict()

    @server.tool()
    async def pattern_search(
        query: str,
        k: int = 3,
        namespace: str | None = None,
        min_confidence: float = 0.0,
        strategy: str | None = None,
        outcome: Literal["success", "failure"] | None = None,
    ) -> dict[str, Any]:
        """Find the reasoning items most useful for a task (describe the task in query):
        ranked by similarity to the item and to the tasks it was learned on, recency and
        reliability, then diversified (MMR). Each hit has key, value, confidence, score and
        the score's parts; item.outcome says whether it was learned from a success or a
        failure."""
        hits = await worker.run(
            lambda mb: mb.bank.query(
                query,
                namespace=namespace,
                k=k,
                min_confidence=min_confidence,
                strategy=strategy,
                outcome=outcome,
            )
        )
        return {"query": query, "hits": [h.to_dict() for h in hits]}

    @server.tool()
    async def trajectory_record(
        task: str,
        steps: list[Any] | None = None,
        outcome: dict[str, Any] | None = None,
        verdict: Literal["success", "failure"] | None = None,
        strategy: str | None = None,
        kind: str | None = None,
        namespace: str = "default",
        used: list[str] | None = None,
        task_id: str | None = None,
        duration: float | None = None,
        agent: str | None = None,
    ) -> dict[str, Any]:
        """Record one attempt at a task: steps (actions and observations), outcome (real test
        results: exit_code, tests_passed, tests_failed, failures, stderr), or your verdict.
        Test results outrank your verdict. Items whose ids are in used get their confidence
        moved by the result; up to three new items are distilled from the attempt. Returns
        the trajectory with its verdict and source, the distilled and the updated items."""
        recorded = await worker.run(
            lambda mb: mb.bank.record_trajectory(
                task,
                steps or [],
                outcome=outcome,
                verdict=verdict,
                strategy=strategy,
                kind=kind,
                namespace=namespace,
                used=used or [],
                task_id=task_id,
                duration=duration,
                agent=agent,
            )
        )
        return recorded.to_dict()

    @server.tool()
    async def bank_status() -> dict[str, Any]:
        """The ReasoningBank's state: items, categories, average confidence, vectors,
        trajectories and their verdicts, links, query cache hits and misses."""
        status = await worker.run(lambda mb: mb.bank.status())
        return status.to_dict()

    @server.tool()
    async def bank_consolidate() -> dict[str, Any]:
        """Merge near-duplicate items, link contradicting ones, archive unused old unreliable
        ones (nothing is deleted); returns what changed. Running it twice changes nothing
        the second time."""
        report = await worker.run(lambda mb: mb.bank.consolidate())
        return report.to_dict()

    @server.tool()
    async def neural_train(
        ctx: Context,
        config: dict[str, Any],
        data: Any,
        target: str,
        name: str | None = None,
        description: str = "",
    ) -> dict[str, Any]:
        """Train a neural model on records and store it as a new version. config is
        Claude-Flow's model configuration (architecture.layers, training); data is
        {"trainingData": [...], "validationData": [...]} or a list of records; target is the
        field to predict. Reports progress per epoch; returns the version with its measured
        validation accuracy (null without validation data)."""
        loop = asyncio.get_running_loop()
        total = float((config.get("training") or {}).get("epochs", 50))

        stop = threading.Event()

        def report(epoch: Any) -> None:
            _stopped(stop)
            acc = "-" if epoch.val_accuracy is None else f"{epoch.val_accuracy:.3f}"
            asyncio.run_coroutine_threadsafe(
                ctx.report_progress(
                    epoch.epoch, total, f"loss {epoch.train_loss:.4f} val_acc {acc}"
                ),
                loop,
            ).result()

        info = await worker.run(
            lambda mb: mb.neural.train(
                config, data, target=target, name=name, description=description, on_epoch=report
            ),
            stop=stop,
        )
        return info.to_dict()

    @server.tool()
    async def neural_predict(
        name: str, input: dict[str, Any] | list[dict[str, Any]], version: int | None = None
    ) -> dict[str, Any]:
        """Predict with a trained model: for one record, the prediction, its confidence (the
        model's probability), the reasoning (what the most similar training records had) and
        the fields that drove it; for a list of records, the predictions."""
        if isinstance(input, list):
            out = await worker.run(lambda mb: mb.neural.predict_batch(name, input, version))
            return {"predictions": out}
        pred = await worker.run(lambda mb: mb.neural.predict(name, input, version))
        return pred.to_dict()

    @server.tool()
    async def neural_patterns(
        action: Literal["analyze", "learn", "predict"],
        operation: str,
        pattern: Literal["convergent", "divergent", "lateral", "systems", "critical", "adaptive"]
        | None = None,
        outcome: Literal["success", "failure"] | None = None,
    ) -> dict[str, Any]:
        """Cognitive patterns. analyze: which way of thinking an operation (described in
        words) calls for, with a confidence per pattern. learn: store an operation with its
        pattern (and outcome), which improves later analyses. predict: the chance of success
        of an operation from the outcomes of similar learned ones (null when none)."""

        def run(mb: mindbank.MindBank) -> dict[str, Any]:
            p = mb.neural.patterns
            if action == "analyze":
                return p.analyze(operation).to_dict()
            if action == "learn":
                if pattern is None:
                    raise ToolError("argument 'pattern' is required for action 'learn'")
                return {"learned_examples": p.learn(operation, pattern, outcome)}
            return p.predict(operation).to_dict()

        return await worker.run(run)

    @server.tool()
    async def neural_models(name: str | None = None) -> dict[str, Any]:
        """List trained model versions (name, version, current, measured validation accuracy,
        size) and the catalog of presets with their status (untrained, or trained here)."""

        def run(mb: mindbank.MindBank) -> dict[str, Any]:
            return {
                "versions": [v.to_dict() for v in mb.neural.versions(name)],
                "catalog": mb.neural.catalog(),
            }

        return await worker.run(run)

    @server.tool()
    async def pipeline_run(
        ctx: Context,
        tasks: str = "builtin",
        strategies: list[str] | None = None,
        complexity: Literal["easy", "medium", "hard"] | None = None,
        limit: int = 10,
        workers: int = 2,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Run tasks (tasks: "builtin", "mbpp", a folder of task folders, or a .jsonl file) under
        strategies (built-in conservative, balanced, aggressive, or "name=command" for an
        agent or script that prints a solution) with their real pytest tests and ruff, and
        learn from the results. Reports progress per run; returns each run and a per-strategy
        report."""
        from mindbank.pipeline.strategies import parse_strategies
        from mindbank.pipeline.tasks import load

        loop = asyncio.get_running_loop()

        stop = threading.Event()

        def run(mb: mindbank.MindBank) -> dict[str, Any]:
            found = load(tasks, complexity, limit)
            chosen = parse_strategies(strategies or ["conservative", "balanced", "aggressive"])
            total = float(len(found) * len(chosen))
            done = [0]

            def progress(result: Any) -> None:
                done[0] += 1
                asyncio.run_coroutine_threadsafe(
                    ctx.report_progress(done[0], total, f"{result.task_id} {result.strategy}: "
                                        f"{result.status}"), loop,
                ).result()  # fmt: skip

            results = mb.pipeline.run(found, chosen, workers=workers, wall_seconds=timeout,
                                      progress=progress, stop=stop.is_set)  # fmt: skip
            return {"runs": [r.to_dict() for r in results], "report": mb.pipeline.report()}

        return await worker.run(run, stop=stop)

    @server.tool()
    async def pipeline_status() -> dict[str, Any]:
        """Strategy profiles from every pipeline run (EMA success rate, score, time, uses,
        trend), overall (kind "*") and per task kind, and the per-strategy report."""

        def run(mb: mindbank.MindBank) -> dict[str, Any]:
            return {
                "profiles": [p.to_dict() for p in mb.pipeline.status()],
                "report": mb.pipeline.report(),
            }

        return await worker.run(run)

    @server.tool()
    async def strategy_select(
        kind: str = "*",
        priorities: Literal["production", "prototyping", "balanced"] = "balanced",
    ) -> dict[str, Any]:
        """Pick the strategy to use for a kind of task (easy, medium, hard, or * for any)
        under priorities (production favours reliability, prototyping speed), from the
        pipeline's measured runs; says why and ranks all."""
        sel = await worker.run(lambda mb: mb.pipeline.select(kind, priorities))
        return sel.to_dict()

    @server.tool()
    async def memory_changes(
        since: int = 0, namespace: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        """Changes to entries by any agent after change number since (0: from the start),
        oldest first: seq, namespace, key, op (store or delete), actor, at. Call again with
        the last seq to catch up without gaps or repeats; head is the newest number."""

        def run(mb: mindbank.MindBank) -> dict[str, Any]:
            changes = mb.changes(since=since, namespace=namespace, limit=limit)
            return {"head": mb.change_head(), "changes": [c.to_dict() for c in changes]}

        return await worker.run(run)

    @server.tool()
    async def memory_schema(
        action: Literal["set", "show", "check", "remove"],
        namespace: str,
        schema: dict[str, Any] | None = None,
        name: str | None = None,
        strict: bool = False,
    ) -> dict[str, Any]:
        """A namespace's JSON Schema. set: from then on values stored in the namespace must
        match schema (a JSON Schema, or {"definitions": {...}} with name picking one; strict
        refuses unknown fields). show: the schema. check: stored entries that do not match.
        remove: stop checking."""

        def run(mb: mindbank.MindBank) -> dict[str, Any]:
            if action == "set":
                if schema is None:
                    raise ToolError("argument 'schema' is required for action 'set'")
                return mb.set_schema(namespace, schema, name=name, strict=strict).to_dict()
            if action == "show":
                info = mb.schema(namespace)
                return {"namespace": namespace, "schema": None if info is None else info.to_dict()}
            if action == "check":
                bad = mb.check_schema(namespace)
                return {"namespace": namespace,
                        "violations": [{"key": k, "why": w} for k, w in bad]}  # fmt: skip
            return {"namespace": namespace, "removed": mb.remove_schema(namespace)}

        return await worker.run(run)

    @server.tool()
    async def model_update(
        name: str,
        records: list[dict[str, Any]],
        mode: Literal["incremental", "online"] = "incremental",
        epochs: int = 10,
        tolerance: float = 0.0,
        every: int = 50,
        max_step: float = 0.1,
    ) -> dict[str, Any]:
        """Continue training model name on new records (warm start). The accuracy before and
        after is measured on the same held-out records; a worse update (by more than
        tolerance) is rolled back. online: an update after every `every` records, each moving
        no layer more than max_step of its size. Returns each update's figures."""

        def run(mb: mindbank.MindBank) -> dict[str, Any]:
            if mode == "online":
                reports, waiting = mb.neural.update_online(
                    name, records, every=every, max_step=max_step, epochs=min(epochs, 5),
                    tolerance=tolerance,
                )  # fmt: skip
                return {"updates": [r.to_dict() for r in reports], "waiting": waiting}
            r = mb.neural.update(name, records, epochs=epochs, tolerance=tolerance)
            return {"updates": [r.to_dict()], "waiting": 0}

        return await worker.run(run)

    @server.tool()
    async def pattern_learn(
        min_support: int = 5,
        min_gain: float = 0.1,
        namespace: str | None = None,
        failures_only: bool = False,
        store: bool = True,
    ) -> dict[str, Any]:
        """Mine the judged trajectories (pipeline runs included) for strategies, task kinds,
        agents and contexts that go with success or failure more than tasks overall (95 %
        Wilson interval), store them as ReasoningBank items (namespace learned-patterns) and
        return them with their support and evidence."""

        def run(mb: mindbank.MindBank) -> dict[str, Any]:
            total, base, found = mb.bank.learn_patterns(
                min_support=min_support, min_gain=min_gain, namespace=namespace, store=store
            )
            if failures_only:
                found = [p for p in found if p.label == "failure"]
            return {"trajectories": total, "base_rate": base,
                    "patterns": [{**p.to_dict(), "text": p.text} for p in found]}  # fmt: skip

        return await worker.run(run)

    @server.tool()
    async def memory_compress(
        tiers: list[Literal["cold", "warm", "hot"]] | None = None, vacuum: bool = False
    ) -> dict[str, Any]:
        """Compress entries of the cold tier (or the tiers given): values with zstd and a
        dictionary trained on the store, vectors as int8. Entries read back exactly; returns
        the measured size before and after and the search recall@10 on the same queries."""
        report = await worker.run(lambda mb: mb.compress(tiers=tiers or ["cold"], vacuum=vacuum))
        return report.to_dict()

    @server.tool()
    async def db_verify() -> dict[str, Any]:
        """Check the database: SQLite integrity, foreign keys, migration hashes. ok is true
        when no problem was found."""
        report = await worker.run(lambda mb: mb.check())
        return report.to_dict()

    return server, worker.close
