"""What the witness chain costs on writes.

Same schema, same data, same run: one database witnessed as usual (every write appends a
SHAKE-256 record), and the baseline: the witness triggers dropped and the store's own witness
step replaced by a no-op (in this benchmark only), so nothing is witnessed. Embedding is off, so the figures are
the store's own work. Target: batched writes (``store_many``) at most 25 % slower. Also single
``store`` calls, deletes, and the time ``verify()`` takes to check everything.

Run: ``python bench/bench_witness.py [--entries 20000]``.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import mindbank
from mindbank.config import Settings
from mindbank.store.schema import WITNESS_TRIGGERS


def _real_append() -> object:
    import mindbank.store.memory as memory_sql

    return memory_sql.witness


_REAL_APPEND = _real_append()


def _open(path: Path, witness: bool) -> mindbank.MindBank:
    if not witness and not path.exists():
        mindbank.open(path, settings=Settings(embed=False)).close()
        conn = sqlite3.connect(path)
        for t in WITNESS_TRIGGERS:
            conn.execute(f"DROP TRIGGER {t}")
        conn.commit()
        conn.close()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mindbank.WitnessWarning)  # the baseline has no triggers
        return mindbank.open(path, settings=Settings(embed=False), embedder="hashing")


def run(tmp: Path, n: int, witness: bool, tag: str) -> dict[str, float]:
    import mindbank.store.memory as memory_sql

    path = tmp / f"{tag}.db"
    out: dict[str, float] = {}
    memory_sql.witness = _REAL_APPEND if witness else (lambda db, records: None)  # type: ignore[assignment]
    with _open(path, witness) as mb:
        items = [
            {"key": f"k{i}", "value": f"value number {i} " * 4, "namespace": f"ns{i % 10}",
             "tags": ["t"], "metadata": {"i": i}}
            for i in range(n)
        ]  # fmt: skip
        t0 = time.perf_counter()
        for lo in range(0, n, 1000):
            mb.store_many(items[lo : lo + 1000])
        out["store_many"] = n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for lo in range(0, n, 1000):  # the same keys again: updates
            mb.store_many(items[lo : lo + 1000])
        out["store_many update"] = n / (time.perf_counter() - t0)
        m = min(n, 2000)
        t0 = time.perf_counter()
        for i in range(m):
            mb.store(f"single{i}", "one value")
        out["store"] = m / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for i in range(m):
            mb.delete(f"single{i}")
        out["delete"] = m / (time.perf_counter() - t0)
        if witness:
            t0 = time.perf_counter()
            report = mb.verify()
            out["verify s"] = time.perf_counter() - t0
            assert report.ok
            out["records"] = report.records
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3, help="best of")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mindbank-witness-"))
    best: dict[bool, dict[str, float]] = {True: {}, False: {}}
    for r in range(args.repeat):
        for witness in (False, True):
            res = run(tmp, args.entries, witness, f"{'w' if witness else 'base'}{r}")
            for k, v in res.items():
                keep = min if k.endswith(" s") else max
                best[witness][k] = keep(best[witness].get(k, v), v)
    print(
        f"{args.entries:,} entries, best of {args.repeat}; baseline = same schema, triggers dropped"
    )
    for k in ("store_many", "store_many update", "store", "delete"):
        w, b = best[True][k], best[False][k]
        print(f"  {k:<18} witnessed {w:>10,.0f}/s   baseline {b:>10,.0f}/s   "
              f"overhead {100 * (b / w - 1):5.1f} %" + ("   (target <= 25 %)" if k == "store_many" else ""))  # fmt: skip
    print(f"  verify(): {best[True]['verify s']:.2f} s for {best[True]['records']:,.0f} records "
          f"and {args.entries:,} rows")  # fmt: skip


if __name__ == "__main__":
    main()
