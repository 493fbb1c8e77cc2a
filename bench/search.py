"""Search speed at 10,000 and 100,000 entries of real text, with the default embedder.

Text: sentences of the docstrings and comments of the Python files on this machine (the
standard library, then installed packages: real prose about code, no download). Queries: the paraphrase queries of
``bench/data/stdlib_queries.tsv``.

Prints, per size: search p50/p99 excluding the query embedding (the query vector is cached) and
including it, per mode; recall@10 of the index against exact numpy search over the vectors read
back from the database; store with embedding (single p50, batched entries/s); a cached query;
the time to load the index from the database and its memory. The baseline in the same run is a
plain numpy brute-force search over the same matrix.

Run: ``python bench/search.py [--sizes 10000 100000]``. Embedding 100,000 texts takes about
12 minutes on 2 cores; the database is kept in ``--workdir`` so a second run reuses it.
"""

from __future__ import annotations

import argparse
import ast
import re
import sqlite3
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np

import mindbank
from mindbank.store.snapshot import snapshot_path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from retrieval_quality import load_queries  # noqa: E402


def _sentences(text: str) -> list[str]:
    out = []
    for part in re.split(r"(?<=[.!?])\s+", " ".join(text.split())):
        if 40 <= len(part) <= 600:
            out.append(part)
    return out


def stdlib_texts(limit: int) -> list[str]:
    """Distinct sentences (40-600 chars) of docstrings and comments of the Python files on this
    machine: the standard library first, then the installed packages."""
    seen: dict[str, None] = {}
    roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
    paths = [p for root in roots for p in sorted(root.rglob("*.py"))]
    for path in paths:
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                for sentence in _sentences(ast.get_docstring(node) or ""):
                    seen.setdefault(sentence)
        block: list[str] = []
        for line in [*source.splitlines(), ""]:
            stripped = line.strip()
            if stripped.startswith("#") and not stripped.startswith("#!"):
                block.append(stripped.lstrip("#").strip())
            elif block:
                for sentence in _sentences(" ".join(block)):
                    seen.setdefault(sentence)
                block = []
        if len(seen) >= limit:
            break
    return list(seen)[:limit]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, (time.perf_counter() - start) * 1000.0


def bench_size(n: int, texts: list[str], workdir: Path, queries: list[str]) -> None:
    path = workdir / f"search-{n}.db"
    settings = mindbank.Settings(query_cache_size=0)
    print(f"\n== {n:,} entries ==")
    with mindbank.open(path, settings=settings) as mb:
        have = mb.count(namespace="corpus")
        if have < n:
            start = time.perf_counter()
            for lo in range(have, n, 2000):
                mb.store_many(
                    {"key": f"t{i:06d}", "value": texts[i], "namespace": "corpus"}
                    for i in range(lo, min(n, lo + 2000))
                )
                print(f"  stored {min(n, lo + 2000):,}", end="\r", flush=True)
            took = time.perf_counter() - start
            print(f"store_many with embedding: {(n - have) / took:,.0f} entries/s "
                  f"({n - have:,} in {took:.0f} s)")  # fmt: skip
    snapshot_path(path).unlink(missing_ok=True)
    with mindbank.open(path, settings=settings) as mb:
        mb.embedder.embed_one("load the model first")
        _, load_ms = timed(mb.search, "warm up the index", k=1, mode="semantic")
        status = mb.index_status()
        print(f"first search, index loaded from SQLite (and snapshot written): {load_ms:,.0f} ms; "
              f"{status.loaded:,} vectors, {status.loaded * 384 * 5 / 1e6:,.1f} MB (f32 + int8)")  # fmt: skip
    with mindbank.open(path, settings=settings) as mb:
        mb.embedder.embed_one("load the model first")
        _, snap_ms = timed(mb.search, "warm up the index", k=1, mode="semantic")
        print(f"first search in a new process, index from the snapshot: {snap_ms:,.0f} ms")
    cli = [
        sys.executable,
        "-m",
        "mindbank",
        "search",
        "how do I compress a file",
        "--db",
        str(path),
    ]
    walls = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(cli, check=True, capture_output=True)
        walls.append((time.perf_counter() - start) * 1000)
    print(
        f"CLI `mindbank search`, process start to exit: median {statistics.median(walls):,.0f} ms"
    )
    with mindbank.open(path, settings=settings) as mb:
        mb.search("warm up the index", k=1, mode="semantic")
        results = {}
        for mode in ("semantic", "hybrid", "keyword"):
            first, again = [], []
            for q in queries:
                first.append(timed(mb.search, q, k=10, mode=mode)[1])
                again.append(timed(mb.search, q, k=10, mode=mode)[1])
            results[mode] = (first, again)
            label = "incl." if mode != "keyword" else "     "
            print(f"search {mode:<8}: p50 {pct(again, 50):6.2f} ms p99 {pct(again, 99):6.2f} ms "
                  f"excl. embedding | p50 {pct(first, 50):6.2f} ms p99 {pct(first, 99):6.2f} ms "
                  f"{label} embedding")  # fmt: skip
        # Baseline and recall: exact numpy search over the vectors read back from the database.
        conn = sqlite3.connect(path)
        rows = conn.execute("SELECT entry_id, vector FROM embeddings ORDER BY entry_id").fetchall()
        key_of = dict(conn.execute("SELECT id, key FROM memory_store").fetchall())
        conn.close()
        ids = np.asarray([r[0] for r in rows])
        matrix = np.vstack([np.frombuffer(r[1], dtype="<f4") for r in rows])
        qvecs = mb.embedder.embed(queries)
        base_ms, recalls = [], []
        for q, qv in zip(queries, qvecs, strict=True):
            start = time.perf_counter()
            scores = matrix @ qv
            top = np.argpartition(-scores, 10)[:10]
            top = top[np.argsort(-scores[top])]
            base_ms.append((time.perf_counter() - start) * 1000)
            exact = {key_of[int(ids[t])] for t in top}
            got = {h.entry.key for h in mb.search(q, k=10, mode="semantic")}
            recalls.append(len(exact & got) / 10)
        sem = results["semantic"][1]
        print(f"baseline numpy brute force: p50 {pct(base_ms, 50):.2f} ms; mindbank semantic / "
              f"baseline x{pct(sem, 50) / pct(base_ms, 50):.2f}")  # fmt: skip
        print(f"recall@10 of the index against exact search: {statistics.fmean(recalls):.4f}")
        cached = mindbank.Settings(query_cache_size=100)
    with mindbank.open(path, settings=cached) as mb:
        mb.search(queries[0], k=10)
        hits = [timed(mb.search, queries[0], k=10)[1] for _ in range(200)]
        print(f"cached query: p50 {pct(hits, 50) * 1000:.1f} us")
        singles = [
            timed(mb.store, f"single-{i}", f"{texts[i]} (stored again, one at a time)",
                  namespace="singles")[1]
            for i in range(50)
        ]  # fmt: skip
        print(f"store with embedding, one at a time: p50 {pct(singles, 50):.1f} ms, "
              f"p99 {pct(singles, 99):.1f} ms")  # fmt: skip
        mb.clear_namespace("singles")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mindbank-bench-search"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    texts = stdlib_texts(max(args.sizes))
    if len(texts) < max(args.sizes):
        sys.exit(f"only {len(texts):,} distinct sentences of real text here; lower --sizes")
    queries = [q for _, q in load_queries()][:100]
    print(f"{len(texts):,} sentences of real text; {len(queries)} queries; mindbank "
          f"{mindbank.__version__}")  # fmt: skip
    for n in sorted(args.sizes):
        bench_size(n, texts, args.workdir, queries)


if __name__ == "__main__":
    main()
