"""Running a configured external command (judge, distiller): JSON in on stdin, JSON out."""

from __future__ import annotations

import json
import shlex
import subprocess
from typing import Any

from mindbank.errors import CommandError

__all__ = ["run_json_command"]


def run_json_command(command: str, payload: Any, timeout: float, what: str) -> Any:
    """Run ``command`` (a shell-like command line, not run through a shell) with ``payload``
    as JSON on stdin; return its stdout parsed as JSON.

    Raises:
        CommandError: naming ``what``, if the command line is invalid, the program is missing,
            it times out, exits non-zero or prints something that is not JSON.
    """
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise CommandError(f"the {what} command is not a valid command line: {exc}") from None
    if not argv:
        raise CommandError(f"the {what} command is empty")
    try:
        proc = subprocess.run(
            argv,
            input=json.dumps(payload, ensure_ascii=False),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise CommandError(f"{what} command not found: {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise CommandError(f"{what} command timed out after {timeout:g} s") from None
    except OSError as exc:
        raise CommandError(f"{what} command could not run: {exc}") from None
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [""]
        raise CommandError(f"{what} command exited with {proc.returncode}: {tail[0][:200]}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise CommandError(
            f"{what} command did not print JSON: {proc.stdout.strip()[:200]!r}"
        ) from None
