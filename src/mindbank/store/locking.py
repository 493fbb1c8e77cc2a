"""One handle, many threads: every public method of a handle's objects runs under the
handle's lock.

A SQLite :class:`~mindbank.store.database.Database` carries one ``threading.RLock``
(a PostgreSQL one needs none: each thread has its own connection and transactions from the
pool, so its lock is :data:`NO_LOCK`); :func:`serialized` wraps each public method of a class so that it runs
while holding it. One thread at a time uses the handle's connection and its in-memory state
(the working-memory tier, the vector index, caches), so threads can share a handle the way they
share a file object; a transaction holds the lock from ``BEGIN`` to ``COMMIT``, so another
thread's call waits for it instead of joining it. The lock is re-entrant: methods call each
other freely. Uncontended, it costs well under a microsecond per call (``bench/bench_store.py``
measures the store's paths with it).

Generators yield outside the lock (each step runs under it), so a caller that holds an
iterator open does not block the others; context managers marked with :func:`unlocked` take
the lock themselves for as long as they are open.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any, TypeVar

__all__ = ["NO_LOCK", "serialized", "unlocked"]

C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])

_SKIP = "__mindbank_unlocked__"


class _NoLock:
    """The lock of a handle whose threads need none (PostgreSQL: a connection and a
    transaction per thread, from the pool)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


NO_LOCK = _NoLock()


def unlocked(fn: F) -> F:
    """Leave ``fn`` alone in a :func:`serialized` class: it takes the lock itself (a context
    manager that holds it while open), or must not hold it (a loop that runs for minutes)."""
    setattr(fn, _SKIP, True)
    return fn


def _locked(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` under ``self._lock``, with ``fn``'s own parameter list: a wrapper taking
    ``*args, **kwargs`` costs twice as much per call (about 0.4 µs against 0.2 µs here), and
    these wrap the fastest paths (a retrieve from the working-memory tier takes 2-3 µs)."""
    params = list(inspect.signature(fn).parameters.values())
    names = {"_fn": fn}
    head: list[str] = []
    call: list[str] = []
    star = False
    for n, p in enumerate(params):
        default = ""
        if p.default is not inspect.Parameter.empty:
            names[f"_d{n}"] = p.default
            default = f"=_d{n}"
        if p.kind is p.POSITIONAL_ONLY:
            head.append(p.name + default)
            call.append(p.name)
            if n + 1 == len(params) or params[n + 1].kind is not p.POSITIONAL_ONLY:
                head.append("/")
        elif p.kind is p.POSITIONAL_OR_KEYWORD:
            head.append(p.name + default)
            call.append(p.name)
        elif p.kind is p.VAR_POSITIONAL:
            head.append("*" + p.name)
            call.append("*" + p.name)
            star = True
        elif p.kind is p.KEYWORD_ONLY:
            if not star:
                head.append("*")
                star = True
            head.append(p.name + default)
            call.append(f"{p.name}={p.name}")
        else:
            head.append("**" + p.name)
            call.append("**" + p.name)
    me = params[0].name
    source = (
        f"def locked({', '.join(head)}):\n"
        f"    with {me}._lock:\n"
        f"        return _fn({', '.join(call)})\n"
    )
    exec(source, names)  # (source built above from fn's own signature only)
    return functools.wraps(fn)(names["locked"])


def serialized(cls: C) -> C:
    """A class decorator: every public method, property and cached property of the class
    runs under the instance's ``_lock`` (the handle's ``Database.lock``, which the instance
    sets in ``__init__``)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def stepped(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
                lock = self._lock
                with lock:
                    steps = fn(self, *args, **kwargs)
                while True:
                    with lock:
                        try:
                            item = next(steps)
                        except StopIteration:
                            return
                    yield item

            return stepped

        return _locked(fn)

    for name, attr in list(vars(cls).items()):
        if name.startswith("_") and name not in ("__enter__", "__exit__"):
            continue
        if getattr(attr, _SKIP, False):
            continue
        if inspect.isfunction(attr):
            setattr(cls, name, wrap(attr))
        elif isinstance(attr, cached_property):
            attr.func = wrap(attr.func)
        elif isinstance(attr, property) and attr.fget is not None:
            setattr(
                cls,
                name,
                property(
                    wrap(attr.fget),
                    None if attr.fset is None else wrap(attr.fset),
                    None if attr.fdel is None else wrap(attr.fdel),
                    attr.__doc__,
                ),
            )
    return cls
