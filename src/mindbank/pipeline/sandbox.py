"""The sandbox a task's tests run in: what the platform offers, used, and said.

On Linux with ``unshare`` (util-linux) and the right to make namespaces (root, or unprivileged
user namespaces), a run gets:

- **a PID namespace** whose first process is the test run: when it ends or is killed (the
  wall-time limit), the kernel kills every process it started, daemons included: nothing
  outlives the run;
- **a network namespace** with no interface up: no network at all, not even loopback servers
  of the host;
- **a mount namespace** in which the root file system is read-only, the run's folder is the
  one writable place besides a private, empty ``/tmp`` (a tmpfs), ``/root`` and ``/home`` are
  empty (the interpreter's own folders are mounted back, read-only), and ``/proc`` shows the
  run's processes only;
- **as root**: the tests run as ``nobody`` with no capabilities and ``no_new_privs`` (so the
  process limit applies: it does not to root), in a ``pids`` cgroup of at most
  :data:`PROCESSES` processes when the cgroup file system is writable.

Everywhere: a new session, CPU-time, address-space and process limits (``setrlimit``), an
environment stripped to ``PATH`` and a private ``HOME``; the session's process group is killed
when the run ends. Without namespaces (another OS, a container that forbids them) that is all:
:func:`level` says which, ``mindbank pipeline sandbox`` prints it, and
``MINDBANK_SANDBOX=require`` refuses to run tests without the namespaces.

Not contained even with them: reading world-readable files of the host outside ``/root`` and
``/home`` (read-only), CPU and memory beyond the per-process limits, and what the kernel
itself lets through.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from mindbank.errors import ValidationError

__all__ = ["CPU_SECONDS", "MEMORY_BYTES", "PROCESSES", "Sandbox", "level"]

CPU_SECONDS = 30
MEMORY_BYTES = 2 * 1024**3
PROCESSES = 64
NOBODY = 65534

_SCRIPT = r"""
set -e
run=$1; cg=$2; drop=$3; shift 3
hide=""
while [ "$1" != "--" ]; do hide="$hide $1"; shift; done
shift
keep=""
while [ "$1" != "--" ]; do keep="$keep $1"; shift; done
shift
if [ -n "$cg" ]; then echo $$ > "$cg/cgroup.procs"; fi
mount --make-rprivate /
i=0
for k in $keep; do mkdir -p "$run/.keep$i"; mount --bind "$k" "$run/.keep$i"; i=$((i+1)); done
for d in $hide; do
    if [ "$d" = /tmp ] || [ "$d" = /dev/shm ]; then
        mount -t tmpfs -o mode=1777,size=256m tmpfs "$d"
    else
        mount -t tmpfs -o mode=755,size=1m tmpfs "$d"
    fi
done
i=0
for k in $keep; do
    mkdir -p "$k"; mount --bind "$run/.keep$i" "$k"; umount "$run/.keep$i"; rmdir "$run/.keep$i"
    mount -o remount,bind,ro "$k"; i=$((i+1))
done
mount --bind "$run" "$run"
mount -o remount,bind,ro /
cd "$run"
if [ "$drop" = 1 ]; then
    exec setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs \
        --inh-caps=-all --bounding-set=-all "$@"
fi
exec "$@"
"""
_HIDDEN = ("/root", "/home", "/tmp", "/dev/shm")
"""Folders emptied in the sandbox (the temporary ones become private tmpfs); a folder that
holds the run's own folder is left as it is."""


def _limits() -> None:  # in the child, before anything runs
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_NPROC, (PROCESSES, PROCESSES))
    os.setsid()


def _hidden(run: Path) -> list[str]:
    """The folders of :data:`_HIDDEN` that exist and do not hold the run's folder."""
    real = os.path.realpath(run)
    return [d for d in _HIDDEN if os.path.isdir(d) and not (real + "/").startswith(d + "/")]


def _keep(hidden: list[str]) -> list[str]:
    """The interpreter's folders (its prefixes, its executable's) inside hidden folders:
    mounted back read-only."""
    found: set[str] = set()
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable),
             os.path.dirname(os.path.realpath(sys.executable))]  # fmt: skip
    for p in paths:
        for candidate in {p, os.path.realpath(p)}:
            if os.path.isdir(candidate) and any(
                (candidate + "/").startswith(d + "/") for d in hidden
            ):
                found.add(candidate)
    kept: list[str] = []  # the shortest paths cover the longer ones
    for p in sorted(found, key=len):
        if not any(p == k or p.startswith(k + "/") for k in kept):
            kept.append(p)
    return kept


def _argv(run: Path, root: bool, cgroup: str, command: list[str]) -> list[str]:
    hidden = _hidden(run)
    return [*_unshare_argv(root), "sh", "-c", _SCRIPT, "sh", str(run), cgroup,
            "1" if root else "0", *hidden, "--", *_keep(hidden), "--", *command]  # fmt: skip


def _unshare_argv(root: bool) -> list[str]:
    argv = ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
    return argv if root else [argv[0], "--user", "--map-root-user", *argv[1:]]


@functools.cache
def level() -> str:
    """``namespaces`` (the full sandbox above) or ``limits`` (rlimits, a session, a stripped
    environment only), probed once per process by running the sandbox on ``true``."""
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return "limits"
    root = os.geteuid() == 0
    if root and shutil.which("setpriv") is None:
        return "limits"
    probe = Path(tempfile.mkdtemp(prefix="mindbank-probe-", dir=_base()))
    try:
        if root:
            os.chown(probe, NOBODY, NOBODY)
        argv = _argv(probe, root, "", [sys.executable, "-c", "pass"])
        ok = subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    return "namespaces" if ok else "limits"


def _base() -> str | None:
    """Where run folders go: /var/tmp when it exists (a private tmpfs hides /tmp in the
    sandbox), else the default temporary folder."""
    return "/var/tmp" if os.path.isdir("/var/tmp") and os.access("/var/tmp", os.W_OK) else None


def _pids_cgroup() -> Path | None:
    """A new ``pids`` cgroup limited to :data:`PROCESSES` processes, if one can be made."""
    for parent in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
        if not (parent / "cgroup.procs").exists() or not os.access(parent, os.W_OK):
            continue
        cg = parent / f"mindbank-run-{uuid.uuid4().hex[:12]}"
        try:
            cg.mkdir()
            (cg / "pids.max").write_text(str(PROCESSES))
            return cg
        except OSError:
            with contextlib.suppress(OSError):
                cg.rmdir()
    return None


class Sandbox:
    """One run's folder and the way to run a command in it (see the module doc)."""

    def __init__(self) -> None:
        self.level = level()
        if self.level != "namespaces" and os.environ.get("MINDBANK_SANDBOX") == "require":
            raise ValidationError(
                "MINDBANK_SANDBOX=require, but this machine cannot make the namespaces the "
                "sandbox needs (unshare, and root or unprivileged user namespaces)"
            )
        self.root = os.geteuid() == 0
        self.folder = Path(tempfile.mkdtemp(prefix="mindbank-run-", dir=_base()))
        self._cgroup: Path | None = None

    def run(
        self, argv: list[str], env: dict[str, str], timeout: float
    ) -> tuple[int, str, str] | None:
        """Run ``argv`` in the folder; ``(returncode, stdout, stderr)``, or None when it ran
        past ``timeout`` seconds (everything it started is killed either way)."""
        if self.level == "namespaces":
            if self.root:
                os.chown(self.folder, NOBODY, NOBODY)
                for p in self.folder.rglob("*"):
                    os.chown(p, NOBODY, NOBODY)
                self._cgroup = _pids_cgroup()
            cg = str(self._cgroup) if self._cgroup else ""
            argv = _argv(self.folder, self.root, cg, argv)
            env = {**env, "TMPDIR": "/tmp"}
        proc = subprocess.Popen(argv, cwd=self.folder, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, preexec_fn=_limits)  # fmt: skip
        try:
            out, err = proc.communicate(timeout=timeout)
            return proc.returncode, out, err
        except subprocess.TimeoutExpired:
            return None
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, 9)  # the session: what a run without namespaces started
            proc.kill()
            proc.communicate()

    def close(self) -> None:
        """Remove the folder (and the cgroup)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        if self._cgroup is not None:
            with contextlib.suppress(OSError):
                self._cgroup.rmdir()
