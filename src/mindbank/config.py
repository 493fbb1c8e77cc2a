"""Where the database lives and how it is opened.

The database is found like git finds its repository: ``.mindbank/memory.db`` in the nearest
directory, from the current one upward, that has a ``.mindbank/`` folder; else
``./.mindbank/memory.db`` in the current directory. ``MINDBANK_DB`` (or ``--db``) names the file
directly; ``MINDBANK_HOME`` names the folder that holds ``memory.db``.
"""

from __future__ import annotations

import os
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mindbank.errors import ValidationError, shown

__all__ = [
    "DB_DIRNAME",
    "DB_FILENAME",
    "BankSettings",
    "Settings",
    "find_db_path",
    "parse_duration",
]

DB_DIRNAME = ".mindbank"
DB_FILENAME = "memory.db"


@dataclass(frozen=True, slots=True)
class BankSettings:
    """How the ReasoningBank scores, learns and consolidates.

    Retrieval: ``score = w_similarity * similarity + w_recency * recency + w_reliability *
    reliability``, where similarity blends the cosine to the item's content and, weighted by
    ``task_weight``, the cosine to the task it was learned on; recency halves every
    ``half_life`` seconds since last use or update; reliability is the item's confidence. Then
    MMR over the best ``candidates`` with ``mmr_lambda`` (the weight of relevance). Defaults were
    chosen on ``bench/bank_learning.py`` (see docs/reasoningbank.md).

    Learning: a successful use moves confidence up by ``rate_up * (1 - c)``, a failed one down by
    ``rate_down * c``. Distilled items start at ``initial_confidence[verdict source]``.

    Consolidation: items of one namespace, strategy and outcome with cosine >= ``duplicate``
    are merged; items of one namespace and strategy but opposite outcomes with cosine >=
    ``contradiction`` are linked
    ``contradicts``; active items used at most ``archive_max_uses`` times, idle for
    ``archive_after`` seconds and below ``archive_below`` confidence are archived.

    Commands: ``judge_cmd`` (env ``MINDBANK_JUDGE_CMD``) reads a trajectory as JSON on stdin
    and prints ``{"verdict": "success"|"failure", "reason": ...}``; ``distil_cmd`` (env
    ``MINDBANK_DISTIL_CMD``) reads ``{"trajectory", "verdict"}`` and prints a list of
    ``{"title", "description", "content"}``. Both get ``command_timeout`` seconds.
    """

    w_similarity: float = 0.8
    w_recency: float = 0.05
    w_reliability: float = 0.0
    task_weight: float = 1.0
    half_life: float = 30 * 86400.0
    mmr_lambda: float = 0.7
    candidates: int = 50
    default_k: int = 3
    default_confidence: float = 0.8
    rate_up: float = 0.1
    rate_down: float = 0.15
    initial_confidence: tuple[tuple[str, float], ...] = (
        ("tests", 0.7),
        ("caller", 0.6),
        ("judge", 0.5),
    )
    duplicate: float = 0.95
    contradiction: float = 0.85
    archive_max_uses: int = 0
    archive_after: float = 90 * 86400.0
    archive_below: float = 0.3
    judge_cmd: str | None = None
    distil_cmd: str | None = None
    command_timeout: float = 120.0

    def __post_init__(self) -> None:
        for name in ("w_similarity", "w_recency", "w_reliability"):
            if getattr(self, name) < 0:
                raise ValidationError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in (
            "task_weight",
            "mmr_lambda",
            "rate_up",
            "rate_down",
            "default_confidence",
            "duplicate",
            "contradiction",
            "archive_below",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValidationError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.half_life <= 0 or self.candidates < 1 or self.default_k < 1:
            raise ValidationError("half_life must be > 0, candidates and default_k >= 1")
        if self.command_timeout <= 0:
            raise ValidationError(f"command_timeout must be > 0, got {self.command_timeout}")

    def initial(self, source: str) -> float:
        """The confidence a distilled item starts with, by the source of its verdict."""
        return dict(self.initial_confidence).get(source, 0.5)


MODES = {"aggressive": 2.0, "balanced": 1.0, "conservative": 0.5}


@dataclass(frozen=True, slots=True)
class LearningSettings:
    """How memory learns from use (Claude-Flow's LearningBridge and feedback loop).

    Feedback: a search's results are remembered for ``feedback_window`` seconds; retrieving
    one of them then counts as using it (reward +1, boost moved ``rate_used`` of the way) and
    as skipping those shown above it (reward -1, moved ``rate_skipped`` of the way). Explicit
    feedback moves it ``rate_used`` of the way to the reward given. Search adds
    ``feedback_weight * boost`` to each hit's score.

    Confidence (pure functions in :mod:`mindbank.learning.rules`): an entry's confidence decays
    by ``confidence_decay_rate`` per idle day and gains ``access_boost`` per access; from
    ``consolidation_threshold`` accesses on, it decays at half the rate. ``mode`` scales
    decay and boost: aggressive x2, balanced x1, conservative x0.5.

    Graph: entries are linked to up to ``graph_neighbours`` others with cosine >=
    ``graph_similarity`` (found by LSH, :mod:`mindbank.vectors.lsh`) and to the entries used
    within ``coaccess_window`` seconds of them; PageRank with ``graph_damping``. Search adds
    ``graph_weight * pagerank / highest pagerank`` to each hit's score (0: off, the default;
    no benchmark here shows it helps yet).

    Tiers: an entry is hot with at least ``hot_accesses`` accesses and one within
    ``hot_within`` seconds, cold when idle (no access, no update) for ``cold_after`` seconds,
    else warm. The episodic tier (events) keeps at most ``episodic_max_events`` events and none
    older than ``episodic_max_age`` seconds, when retention is applied.
    """

    feedback_window: float = 600.0
    feedback_weight: float = 0.15
    rate_used: float = 0.3
    rate_skipped: float = 0.1
    mode: str = "balanced"
    confidence_decay_rate: float = 0.005
    access_boost: float = 0.03
    consolidation_threshold: int = 10
    graph_damping: float = 0.85
    graph_weight: float = 0.0
    graph_similarity: float = 0.8
    graph_neighbours: int = 10
    coaccess_window: float = 1800.0
    hot_accesses: int = 5
    hot_within: float = 86400.0
    cold_after: float = 30 * 86400.0
    episodic_max_events: int = 10_000
    episodic_max_age: float = 7 * 86400.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValidationError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        for name in ("rate_used", "rate_skipped", "confidence_decay_rate", "access_boost"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValidationError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.feedback_window < 0 or self.feedback_weight < 0:
            raise ValidationError("feedback_window and feedback_weight must be >= 0")
        if self.consolidation_threshold < 1:
            raise ValidationError("consolidation_threshold must be >= 1")


@dataclass(frozen=True, slots=True)
class Settings:
    """How a database is opened.

    Attributes:
        busy_timeout: seconds to wait for another process's lock before
            :class:`~mindbank.errors.DatabaseLockedError` (env ``MINDBANK_BUSY_TIMEOUT``).
        synchronous: ``"NORMAL"`` (default; durable across process crashes, a power loss may
            drop the last commits) or ``"FULL"`` (durable across power loss, slower writes).
        slow_query_ms: statements slower than this are reported to the slow-query hook and
            logged as a ``slow_query`` event; ``None`` turns it off (env ``MINDBANK_SLOW_QUERY_MS``).
        access_flush_seconds: retrieve() access counts are buffered in the process and written
            at most this long after the first unwritten access (and at close). ``0`` writes each
            access at once.
        access_flush_every: ... or once this many accesses are buffered.
        embedder: which embedder to use (see :mod:`mindbank.embedders`; env
            ``MINDBANK_EMBEDDER``; default ``minilm``).
        embed: embed entries as they are stored (env ``MINDBANK_EMBED=0`` turns it off; search
            then embeds what is missing).
        no_embed_namespaces: namespaces never embedded (found by keyword search only; env
            ``MINDBANK_NO_EMBED_NAMESPACES=a,b``).
        query_cache_size: search results kept (LRU; 0 turns the cache off).
        query_cache_ttl: seconds a cached search result stays valid.
        fusion: how hybrid search fuses scores, ``"convex"`` or ``"rrf"``.
        fusion_alpha: the semantic weight of the convex fusion.
        fusion_k: the BM25 score that counts as half a keyword point in the convex fusion.
            The defaults (0.7, 16) were chosen on ``bench/retrieval_quality.py``.
        bank: the ReasoningBank's settings (:class:`BankSettings`).
        learning: how memory learns from use (:class:`LearningSettings`).
        working_memory_bytes: the in-process working-memory tier (rows read by ``retrieve``),
            least recently used out first past this size (env ``MINDBANK_WORKING_MEMORY_MB``).
        model_cache_size: loaded neural models kept in the process (LRU; 0 turns it off).
        model_cache_ttl: seconds a loaded model stays cached.
        witness_strict: refuse to open a database whose witness chain is broken (env
            ``MINDBANK_WITNESS_STRICT=1``); by default it opens with a ``WitnessWarning``.
        actor: who this process's writes are by, in the change log (env ``MINDBANK_ACTOR``;
            default ``host:pid``).
        change_log_days: how long the change log keeps changes (``cleanup`` prunes older ones).
        pool_size: on PostgreSQL, the most connections one open database holds (env
            ``MINDBANK_POOL_SIZE``): threads share them, a transaction keeps one to its end.
        query_timeout: seconds a read-only ``query()`` may run before it is stopped (env
            ``MINDBANK_QUERY_TIMEOUT``).
        query_max_rows: the most rows a read-only ``query()`` returns; a larger result is an
            error that says to add a ``LIMIT`` (env ``MINDBANK_QUERY_MAX_ROWS``).
        max_value_bytes: the largest value an entry may hold, in UTF-8 bytes of its text or
            JSON (env ``MINDBANK_MAX_VALUE_MB``; default 16 MiB): a larger one is refused
            before any work is done on it.
    """

    busy_timeout: float = 5.0
    synchronous: str = "NORMAL"
    slow_query_ms: float | None = None
    access_flush_seconds: float = 1.0
    access_flush_every: int = 1000
    embedder: str | None = None
    embed: bool = True
    no_embed_namespaces: frozenset[str] = frozenset()
    query_cache_size: int = 100
    query_cache_ttl: float = 60.0
    fusion: str = "convex"
    fusion_alpha: float = 0.7
    fusion_k: float = 16.0
    bank: BankSettings = BankSettings()
    learning: LearningSettings = LearningSettings()
    working_memory_bytes: int = 50 * 1024 * 1024
    model_cache_size: int = 8
    model_cache_ttl: float = 3600.0
    witness_strict: bool = False
    actor: str = ""
    change_log_days: float = 7.0
    pool_size: int = 4
    query_timeout: float = 10.0
    query_max_rows: int = 100_000
    max_value_bytes: int = 16 * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read overrides from the environment (``MINDBANK_*``)."""
        env = os.environ if env is None else env
        kwargs: dict[str, object] = {}
        if v := env.get("MINDBANK_BUSY_TIMEOUT"):
            kwargs["busy_timeout"] = _positive_float("MINDBANK_BUSY_TIMEOUT", v)
        if v := env.get("MINDBANK_SYNCHRONOUS"):
            kwargs["synchronous"] = v
        if v := env.get("MINDBANK_SLOW_QUERY_MS"):
            kwargs["slow_query_ms"] = _positive_float("MINDBANK_SLOW_QUERY_MS", v)
        if v := env.get("MINDBANK_EMBEDDER"):
            kwargs["embedder"] = v
        if v := env.get("MINDBANK_EMBED"):
            kwargs["embed"] = v.strip().lower() not in ("0", "false", "no", "off")
        if v := env.get("MINDBANK_NO_EMBED_NAMESPACES"):
            kwargs["no_embed_namespaces"] = frozenset(n.strip() for n in v.split(",") if n.strip())
        if v := env.get("MINDBANK_WORKING_MEMORY_MB"):
            kwargs["working_memory_bytes"] = int(
                _positive_float("MINDBANK_WORKING_MEMORY_MB", v) * 1024 * 1024
            )
        if v := env.get("MINDBANK_QUERY_TIMEOUT"):
            kwargs["query_timeout"] = _positive_float("MINDBANK_QUERY_TIMEOUT", v)
        if v := env.get("MINDBANK_QUERY_MAX_ROWS"):
            kwargs["query_max_rows"] = int(_positive_float("MINDBANK_QUERY_MAX_ROWS", v))
        if v := env.get("MINDBANK_MAX_VALUE_MB"):
            kwargs["max_value_bytes"] = int(
                _positive_float("MINDBANK_MAX_VALUE_MB", v) * 1024 * 1024
            )
        if v := env.get("MINDBANK_POOL_SIZE"):
            kwargs["pool_size"] = int(_positive_float("MINDBANK_POOL_SIZE", v))
        if v := env.get("MINDBANK_ACTOR"):
            kwargs["actor"] = v
        if v := env.get("MINDBANK_WITNESS_STRICT"):
            kwargs["witness_strict"] = v.strip().lower() not in ("0", "false", "no", "off", "")
        bank: dict[str, object] = {}
        if v := env.get("MINDBANK_JUDGE_CMD"):
            bank["judge_cmd"] = v
        if v := env.get("MINDBANK_DISTIL_CMD"):
            bank["distil_cmd"] = v
        if bank:
            kwargs["bank"] = BankSettings(**bank)  # type: ignore[arg-type]
        if v := env.get("MINDBANK_LEARNING_MODE"):
            kwargs["learning"] = LearningSettings(mode=v)
        return cls(**kwargs)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if self.busy_timeout < 0:
            raise ValidationError(f"busy_timeout must be >= 0, got {self.busy_timeout}")
        if self.synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValidationError(
                f"synchronous must be NORMAL, FULL, EXTRA or OFF, got {self.synchronous!r}"
            )
        if self.fusion not in ("convex", "rrf"):
            raise ValidationError(f"fusion must be 'convex' or 'rrf', got {self.fusion!r}")
        if not 0.0 <= self.fusion_alpha <= 1.0:
            raise ValidationError(f"fusion_alpha must be in [0, 1], got {self.fusion_alpha}")
        if self.fusion_k <= 0:
            raise ValidationError(f"fusion_k must be > 0, got {self.fusion_k}")
        if self.query_cache_size < 0 or self.query_cache_ttl < 0:
            raise ValidationError("query_cache_size and query_cache_ttl must be >= 0")
        if self.access_flush_seconds < 0 or self.access_flush_every < 1:
            raise ValidationError("access_flush_seconds must be >= 0 and access_flush_every >= 1")
        if self.max_value_bytes < 1:
            raise ValidationError(f"max_value_bytes must be >= 1, got {self.max_value_bytes}")
        if self.pool_size < 1:
            raise ValidationError(f"pool_size must be >= 1, got {self.pool_size}")
        if not self.query_timeout > 0 or self.query_max_rows < 1:
            raise ValidationError("query_timeout must be > 0 and query_max_rows >= 1")
        if self.change_log_days < 0:
            raise ValidationError(f"change_log_days must be >= 0, got {self.change_log_days}")


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a number, got {shown(raw)}") from None
    if value < 0:
        raise ValidationError(f"{name} must be >= 0, got {shown(raw)}")
    return value


def find_db_path(
    start: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """Return the database path mindbank uses when none is given.

    Args:
        start: the directory to search upward from (default: the current directory).
        env: the environment to read ``MINDBANK_DB`` / ``MINDBANK_HOME`` from (default: os.environ).

    Returns:
        ``$MINDBANK_DB``; else ``$MINDBANK_HOME/memory.db``; else ``.mindbank/memory.db`` in the
        nearest directory upward that has a ``.mindbank/`` folder; else in ``start``.
    """
    env = os.environ if env is None else env
    if db := env.get("MINDBANK_DB"):
        return Path(db).expanduser()
    if home := env.get("MINDBANK_HOME"):
        return Path(home).expanduser() / DB_FILENAME
    here = Path(start if start is not None else os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / DB_DIRNAME).is_dir():
            return folder / DB_DIRNAME / DB_FILENAME
    return here / DB_DIRNAME / DB_FILENAME


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | float | int) -> float:
    """Parse ``"90"``, ``"90s"``, ``"30m"``, ``"1h"``, ``"7d"``, ``"2w"`` (or a number) to seconds.

    Raises:
        ValidationError: if the text is not a non-negative duration.
    """
    if isinstance(text, bool):
        raise ValidationError(
            f"a duration must be a number of seconds or a text, got {shown(text)}"
        )
    if isinstance(text, int | float):
        if not 0 <= text <= 1e11:  # also NaN and infinity
            raise ValidationError(f"a duration must be a finite number of seconds >= 0, got {text}")
        return float(text)
    if not isinstance(text, str):
        raise ValidationError(f"not a duration: {reprlib.repr(text)} (examples: 90, 30m, 1h, 7d)")
    m = _DURATION.match(text)
    if not m:
        raise ValidationError(f"not a duration: {shown(text)} (examples: 90, 30m, 1h, 7d)")
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2) or "s"]
