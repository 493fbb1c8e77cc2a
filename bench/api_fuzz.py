"""Every public method of the API (MindBank and its parts), called 40 times each with hostile
values for its arguments (the values of tests/test_hostile.py): counts the exceptions that are
not mindbank's, by method and kind, with where they came from. The aim is none; the count is
the honest figure of how far the API is from it.

Run: ``python bench/api_fuzz.py`` from the repository.
"""

import collections
import inspect
import os
import random
import sys
import tempfile
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.test_hostile import _HOSTILE_VALUES

import mindbank

SKIP = {
    "close",
    "sync_watch",
    "subscribe",
    "watch",
    "follower",
    "sync",
    "transaction",
    "snapshot",
    "pipeline",
    "restore",
    "backup_to",
}
rng = random.Random(1)
bad = collections.Counter()
examples = {}
with tempfile.TemporaryDirectory() as tmp:
    os.chdir(tmp)
    os.mkfifo("fifo")
    mb = mindbank.open(Path(tmp) / "m.db", embedder="hashing")
    mb.store("keep", {"me": 1}, namespace="safe")
    targets = [("mb", mb)] + [
        (n, getattr(mb, n))
        for n in (
            "bank",
            "neural",
            "events",
            "sessions",
            "agents",
            "tasks",
            "metrics",
            "workflows",
            "topology",
            "consensus",
            "state",
        )
        if hasattr(mb, n)
    ]
    for tname, obj in targets:
        for name, fn in inspect.getmembers(obj, callable):
            if name.startswith("_") or name in SKIP:
                continue
            try:
                sig = inspect.signature(fn)
            except (TypeError, ValueError):
                continue
            for _ in range(40):
                kwargs = {}
                for p in sig.parameters.values():
                    if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                        continue
                    if p.default is p.empty or rng.random() < 0.4:
                        v = rng.choice(_HOSTILE_VALUES)
                        if isinstance(v, str) and (v.startswith("/") or ".." in v):
                            v = "x"
                        kwargs[p.name] = v
                try:
                    fn(**kwargs)
                except mindbank.MindbankError:
                    pass
                except Exception as exc:
                    key = (tname, name, type(exc).__name__)
                    bad[key] += 1
                    tb = traceback.extract_tb(exc.__traceback__)[-1]
                    examples.setdefault(
                        key, f"{str(exc)[:80]} @ {Path(tb.filename).name}:{tb.lineno}"
                    )
    got = mb.get("keep", namespace="safe")
    print("keep intact:", got is not None and got.value == {"me": 1})
for k, n in sorted(bad.items()):
    print(n, k, examples[k])
print(len(bad), "distinct")
