"""Verdicts: did an attempt succeed, and on whose word?

In order of trust: real test results in the outcome (``tests``), an explicit verdict from the
caller (``caller``), a judge command (``judge``). Without any of them the verdict is
``unknown``, and says why.

Test results are read from the outcome's ``exit_code``, ``tests_passed`` and ``tests_failed``
(also ``passed``/``failed``): failure if any test failed or the exit code is not 0; success if
tests passed and none failed (and the exit code, when given, is 0). An outcome with an exit code
and no counts is judged by the exit code alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mindbank.errors import CommandError, ValidationError, shown
from mindbank.reasoning.commands import run_json_command
from mindbank.records import Verdict

__all__ = ["LABELS", "from_tests", "run_judge", "verdict_for"]

LABELS = ("success", "failure")


def _count(outcome: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = outcome.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError(
                f"outcome.{name} must be a non-negative integer, got {shown(value)}"
            )
        return value
    return None


def from_tests(outcome: Mapping[str, Any]) -> Verdict | None:
    """The verdict of real test results in an outcome, or None if it holds none."""
    passed = _count(outcome, "tests_passed", "passed")
    failed = _count(outcome, "tests_failed", "failed")
    exit_code = outcome.get("exit_code")
    if exit_code is not None and (isinstance(exit_code, bool) or not isinstance(exit_code, int)):
        raise ValidationError(f"outcome.exit_code must be an integer, got {shown(exit_code)}")
    if passed is None and failed is None and exit_code is None:
        return None
    detail: dict[str, Any] = {
        "tests_passed": passed,
        "tests_failed": failed,
        "exit_code": exit_code,
    }
    if (failed or 0) > 0 or (exit_code not in (None, 0)):
        return Verdict("failure", "tests", detail)
    if (passed or 0) > 0 or exit_code == 0:
        return Verdict("success", "tests", detail)
    # counts present but zero and no exit code: nothing ran
    return Verdict("unknown", "none", {**detail, "reason": "no test ran"})


def run_judge(command: str, trajectory: Mapping[str, Any], timeout: float) -> Verdict:
    """Ask a judge command: the trajectory as JSON on stdin, ``{"verdict": "success" |
    "failure", "reason": "..."}`` expected on stdout.

    Raises:
        CommandError: the command could not run, failed, timed out or answered something else.
    """
    answer = run_json_command(command, trajectory, timeout, "judge")
    label = answer.get("verdict") if isinstance(answer, dict) else None
    if label not in LABELS:
        raise CommandError(
            f'judge command must print {{"verdict": "success"|"failure"}}, got {json.dumps(answer)[:200]}'
        )
    reason = answer.get("reason")
    return Verdict(str(label), "judge", {"command": command.split()[0], "reason": reason})


def verdict_for(
    outcome: Mapping[str, Any],
    caller: str | None,
    trajectory: Mapping[str, Any],
    judge_cmd: str | None,
    timeout: float,
) -> Verdict:
    """The most trusted verdict available (see the module doc).

    A failing judge command does not lose the attempt: the verdict is ``unknown`` with the
    command's error in ``detail["judge_error"]``.
    """
    tests = from_tests(outcome)
    if tests is not None and tests.known:
        if caller is not None and caller != tests.label:
            return Verdict(tests.label, "tests", {**tests.detail, "caller_said": caller})
        return tests
    if caller is not None:
        if caller not in LABELS:
            raise ValidationError(f"verdict must be 'success' or 'failure', got {shown(caller)}")
        return Verdict(caller, "caller", {})
    if judge_cmd:
        try:
            return run_judge(judge_cmd, trajectory, timeout)
        except CommandError as exc:
            return Verdict("unknown", "none", {"judge_error": str(exc)})
    if tests is not None:
        return tests
    return Verdict(
        "unknown",
        "none",
        {"reason": "no test results, no verdict from the caller and no judge command"},
    )
