"""Distillation: a judged trajectory becomes at most three reasoning items.

Without a language model, items are built from the trajectory's structure: the task, its kind,
the strategy, the steps, the test counts, the failing tests, the error types and messages, the
duration. From a success: what worked and when it applies (plus, when the steps show an error
that a later step fixed, how it was recovered from). From a failure: the pitfall and when not to
do that (plus one item per further error type seen). With ``distil_cmd`` configured, the command
writes the items instead (see :func:`run_distiller`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mindbank.errors import CommandError
from mindbank.reasoning.commands import run_json_command
from mindbank.records import Trajectory

__all__ = ["MAX_ITEMS", "Draft", "error_types", "run_distiller", "structural"]

MAX_ITEMS = 3
_ERROR = re.compile(r"\b([A-Z][A-Za-z0-9_]*(?:Error|Exception|Exit|Interrupt|Failure))\b")
_TEXT_LIMIT = 600


@dataclass(frozen=True, slots=True)
class Draft:
    """An item before it is stored."""

    title: str
    description: str
    content: str


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _failures(outcome: Mapping[str, Any]) -> list[str]:
    """Failing tests and error lines, as short texts."""
    out: list[str] = []
    raw = outcome.get("failures") or outcome.get("failing_tests") or []
    if isinstance(raw, str):
        raw = [raw]
    if isinstance(raw, list):
        for f in raw:
            if isinstance(f, dict):
                name = f.get("test") or f.get("name") or ""
                err = f.get("error") or f.get("message") or ""
                out.append(_short(f"{name}: {err}" if name and err else name or err, 200))
            else:
                out.append(_short(str(f), 200))
    for field in ("error", "errors", "stderr", "message"):
        value = outcome.get(field)
        if isinstance(value, list):
            out += [_short(str(v), 200) for v in value]
        elif isinstance(value, str) and value.strip():
            lines = [ln for ln in value.strip().splitlines() if ln.strip()]
            picked = [ln for ln in lines if _ERROR.search(ln) or "assert" in ln.lower()]
            out += [_short(ln, 200) for ln in (picked or lines[-1:])[-3:]]
    return [f for f in dict.fromkeys(out) if f]


def error_types(outcome: Mapping[str, Any], steps: Sequence[Any] = ()) -> list[str]:
    """Distinct exception names in the outcome (and step observations), most frequent first."""
    texts = _failures(outcome)
    for step in steps:
        if isinstance(step, dict):
            texts.append(str(step.get("observation", "")))
    counts: dict[str, int] = {}
    for t in texts:
        for name in _ERROR.findall(t):
            counts[name] = counts.get(name, 0) + 1
    return sorted(counts, key=lambda n: (-counts[n], n))


def _step_text(step: Any) -> str:
    if isinstance(step, dict):
        action = step.get("action") or step.get("step") or ""
        obs = step.get("observation") or step.get("result") or ""
        return _short(f"{action} → {obs}" if action and obs else str(action or obs or step), 160)
    return _short(str(step), 160)


def _a(phrase: str) -> str:
    """``a math task`` / ``an API task``."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _tests_line(outcome: Mapping[str, Any]) -> str:
    passed = outcome.get("tests_passed", outcome.get("passed"))
    failed = outcome.get("tests_failed", outcome.get("failed"))
    parts = []
    if isinstance(passed, int) or isinstance(failed, int):
        total = (passed or 0) + (failed or 0)
        parts.append(f"{passed or 0}/{total} tests passed")
    if outcome.get("exit_code") is not None:
        parts.append(f"exit code {outcome['exit_code']}")
    return ", ".join(parts)


def structural(t: Trajectory) -> list[Draft]:
    """Items from a judged trajectory's structure (empty for an unknown verdict)."""
    if not t.verdict.known:
        return []
    kind = f"{t.kind} task" if t.kind else "task"
    who = t.strategy or t.agent or "this approach"
    task = _short(t.task, 200)
    tests = _tests_line(t.outcome)
    took = f" in {t.duration:.2f} s" if t.duration is not None else ""
    evidence = (tests + took) if tests else f"judged {t.verdict.label} by {t.verdict.source}{took}"
    steps = [_step_text(s) for s in t.steps]
    steps_block = "\n".join(f"- {s}" for s in steps[:8]) or "- (no steps recorded)"
    drafts: list[Draft] = []
    if t.verdict.label == "success":
        drafts.append(
            Draft(
                title=_short(f"{who} works for {kind}: {task}", 120),
                description=_short(
                    f"When to use: {_a(kind)} like “{task}”. Evidence: {evidence} with "
                    f"{who}. Not yet shown to hold for other kinds of task.",
                    _TEXT_LIMIT,
                ),
                content=f"Task: {t.task}\nStrategy: {who}\nSteps that worked:\n{steps_block}\n"
                f"Result: {evidence}.",
            )
        )
        # An error in the steps that a later step got past is a recovery worth keeping.
        for i, step in enumerate(t.steps[:-1]):
            seen = error_types({}, [step])
            if seen:
                fix = _step_text(t.steps[i + 1])
                drafts.append(
                    Draft(
                        title=_short(f"Recover from {seen[0]} in {kind}: {fix}", 120),
                        description=_short(
                            f"When to use: {_a(kind)} like “{task}” hits {seen[0]} midway. "
                            f"What came next led to success ({evidence}).",
                            _TEXT_LIMIT,
                        ),
                        content=f"Task: {t.task}\nFailed step: {_step_text(step)}\n"
                        f"Recovered by: {fix}",
                    )
                )
                break
        return drafts[:MAX_ITEMS]
    failures = _failures(t.outcome)
    errors = error_types(t.outcome, t.steps)
    main = errors[0] if errors else "failing tests"
    fail_block = "\n".join(f"- {f}" for f in failures[:5]) or "- (no failure detail recorded)"
    drafts.append(
        Draft(
            title=_short(f"Pitfall: {who} fails {kind} with {main}: {task}", 120),
            description=_short(
                f"When not to: {who} on {_a(kind)} like “{task}”. It failed here "
                f"({evidence}; {main}). Prefer another strategy, or guard against it.",
                _TEXT_LIMIT,
            ),
            content=f"Task: {t.task}\nStrategy: {who}\nWhat failed:\n{fail_block}\n"
            f"Steps:\n{steps_block}\nResult: {evidence}.",
        )
    )
    for name in errors[1:MAX_ITEMS]:
        lines = [f for f in failures if name in f][:3]
        drafts.append(
            Draft(
                title=_short(f"Watch for {name} with {who} on {kind}: {task}", 120),
                description=_short(
                    f"When not to: expect {name} from {who} on {_a(kind)} like “{task}”.",
                    _TEXT_LIMIT,
                ),
                content=f"Task: {t.task}\nStrategy: {who}\n{name}:\n"
                + ("\n".join(f"- {ln}" for ln in lines) or "- (seen in the steps)"),
            )
        )
    return drafts[:MAX_ITEMS]


def run_distiller(command: str, trajectory: Mapping[str, Any], timeout: float) -> list[Draft]:
    """Ask a distil command: ``{"trajectory": ..., "verdict": ...}`` as JSON on stdin, a JSON
    list of ``{"title", "description", "content"}`` (or ``{"items": [...]}``) on stdout. At
    most :data:`MAX_ITEMS` are kept.

    Raises:
        CommandError: the command failed, timed out or answered something else.
    """
    answer = run_json_command(command, trajectory, timeout, "distil")
    if isinstance(answer, dict):
        answer = answer.get("items")
    if not isinstance(answer, list):
        raise CommandError("distil command must print a JSON list of items")
    drafts: list[Draft] = []
    for i, obj in enumerate(answer[:MAX_ITEMS]):
        if not isinstance(obj, dict) or not all(
            isinstance(obj.get(f), str) and obj[f].strip()
            for f in ("title", "description", "content")
        ):
            raise CommandError(
                f"distil command item {i} must have non-empty title, description and content"
            )
        drafts.append(Draft(obj["title"].strip(), obj["description"].strip(), obj["content"]))
    return drafts
