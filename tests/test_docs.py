"""The README's Python quickstart runs as written and prints what it says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_quickstart(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"## Python quickstart\n\n```python\n(.*?)```", readme, re.S)
    assert code is not None
    assert len(code.group(1).strip().splitlines()) <= 12
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run(
        [sys.executable, "-c", code.group(1)], cwd=tmp_path, capture_output=True, text=True,
        env=env, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "Use REST ('api',) 1"
    assert "api-design Use REST" in r.stdout
    assert (tmp_path / ".mindbank" / "memory.db").exists()


def test_docs_pages_exist_for_built_capabilities() -> None:
    assert (ROOT / "docs" / "memory-store.md").exists()
    assert (ROOT / "docs" / "search.md").exists()
    assert (ROOT / "docs" / "mcp.md").exists()
    assert (ROOT / "docs" / "reasoningbank.md").exists()
    assert (ROOT / "docs" / "postgres.md").exists()
    assert (ROOT / "docs" / "sync.md").exists()
    assert (ROOT / "docs" / "security.md").exists()


def test_reasoningbank_doc_example_runs_as_written(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "reasoningbank.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", doc, re.S)
    assert code is not None
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src"), "MINDBANK_EMBEDDER": "hashing"}
    r = subprocess.run(
        [sys.executable, "-c", code.group(1)], cwd=tmp_path, capture_output=True, text=True,
        env=env, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("Verdict(label='failure', source='tests'")
    assert lines[1].startswith("Pitfall: int-division fails math task with AssertionError")
    assert len(lines) == 2 + 2  # the two items in the bank


def test_architecture_names_only_modules_that_exist() -> None:
    """docs/architecture.md describes the code as it is: every module or package it names is
    there (a bare ``name.py`` somewhere under mindbank/, a path from mindbank/)."""
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    src = ROOT / "src" / "mindbank"
    names = set(re.findall(r"`((?:[a-z_]+/)*[a-z_]+(?:\.py|/))`", doc))
    assert len(names) > 30
    every = {p.relative_to(src).as_posix() for p in src.rglob("*.py")}
    missing = []
    for name in sorted(names):
        if name.startswith("tests/"):
            ok = (ROOT / name).exists()
        elif name.endswith("/"):
            ok = (src / name).is_dir()
        elif "/" in name:
            ok = name in every
        else:
            ok = any(p == name or p.endswith("/" + name) for p in every)
        if not ok:
            missing.append(name)
    assert missing == []
