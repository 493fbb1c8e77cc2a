"""The pipeline's test sandbox (issue 21): a task's tests try each escape an adversarial pass
found (files outside the folder, other people's folders, the network, forks, processes that
outlive the run), and each must fail; the host is checked from outside too. Where this machine
cannot make namespaces, the tests say what is not contained and check what is."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from mindbank.pipeline.runner import run_one
from mindbank.pipeline.sandbox import PROCESSES, level
from mindbank.pipeline.strategies import Strategy
from mindbank.pipeline.tasks import Task

FULL = level() == "namespaces"
needs_namespaces = pytest.mark.skipif(not FULL, reason="this machine cannot make namespaces")


def _run(tests: str) -> tuple[str, str]:
    task = Task("escape", "try to escape", "def f():\n    return 1\n", tests)
    r = run_one(task, Strategy("balanced"), lint=False, wall_seconds=60)
    return r.status, r.reason


@needs_namespaces
def test_tests_cannot_write_outside_their_folder(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    targets = [tmp_path / f"escape-{marker}", Path("/var/tmp") / f"escape-{marker}",
               Path("/etc") / f"escape-{marker}", Path.home() / f"escape-{marker}"]  # fmt: skip
    tests = f"""
import os, pytest
TARGETS = {[str(t) for t in targets]!r}

def test_nothing_outside_is_writable():
    for t in TARGETS:
        with pytest.raises(OSError):
            with open(t, "w") as fh:
                fh.write("escaped")

def test_its_own_folder_and_tmp_are():
    open("mine.txt", "w").write("ok")
    open("/tmp/scratch.txt", "w").write("ok")
"""
    assert _run(tests) == ("passed", "")
    assert not any(t.exists() for t in targets)


@needs_namespaces
def test_tests_cannot_read_home_folders_or_see_host_processes(tmp_path: Path) -> None:
    secret = Path.home() / f".mindbank-secret-{uuid.uuid4().hex}"
    secret.write_text("private")
    try:
        tests = f"""
import os

def test_home_is_empty_and_the_secret_unreadable():
    assert not os.path.exists({str(secret)!r})
    assert "{secret.name}" not in os.listdir({str(secret.parent)!r})

def test_only_its_own_processes_are_visible():
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    assert len(pids) < 10, pids
"""
        assert _run(tests) == ("passed", "")
    finally:
        secret.unlink()


@needs_namespaces
def test_tests_cannot_reach_the_network(listener: tuple[str, list[str]]) -> None:
    url, hits = listener
    port = int(url.rsplit(":", 1)[1])
    tests = f"""
import socket, pytest

def test_no_loopback_server_of_the_host():
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", {port}), timeout=2)

def test_no_outside_address():
    with pytest.raises(OSError):
        socket.create_connection(("1.1.1.1", 53), timeout=2)
"""
    assert _run(tests) == ("passed", "")
    assert hits == []


def test_forks_are_limited() -> None:
    """200 forks went through as root (RLIMIT_NPROC does not apply to root)."""
    tests = f"""
import os, time

def test_at_most_the_limit():
    children = []
    try:
        for _ in range(200):
            pid = os.fork()
            if pid == 0:
                time.sleep(5)
                os._exit(0)
            children.append(pid)
    except OSError:
        pass
    finally:
        for pid in children:
            os.kill(pid, 9)
    assert len(children) < {PROCESSES}, len(children)
"""
    if os.geteuid() == 0 and not FULL:
        pytest.skip("as root without namespaces the process limit does not apply")
    assert _run(tests) == ("passed", "")


def test_nothing_outlives_the_run() -> None:
    """Processes a test started outlived the run and its timeout."""
    marker = f"{uuid.uuid4().int % 10**6}.{os.getpid()}"
    tests = f"""
import subprocess

def test_start_a_daemon():
    subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
"""
    assert _run(tests) == ("passed", "")
    import time

    time.sleep(0.5)
    alive = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmd:
            alive.append(pid)
    if not FULL:  # a new session escapes the process group: only namespaces catch it
        for pid in alive:
            os.kill(int(pid), 9)
        pytest.skip("without namespaces a process in a new session outlives the run")
    assert alive == []


def test_a_run_past_its_time_limit_leaves_nothing_behind() -> None:
    marker = f"{uuid.uuid4().int % 10**6}.{os.getpid() + 1}"
    tests = f"""
import subprocess, time

def test_hang():
    subprocess.Popen(["sleep", "{marker}"])
    time.sleep(600)
"""
    task = Task("hang", "hang", "def f():\n    return 1\n", tests)
    r = run_one(task, Strategy("balanced"), lint=False, wall_seconds=3)
    assert r.status == "timeout"
    import time

    time.sleep(0.5)
    left = [p for p in filter(str.isdigit, os.listdir("/proc"))
            if marker.encode() in _cmdline(p)]  # fmt: skip
    assert left == []


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
