"""A corpus of real text available on every machine: docstrings of the Python standard library.

Each document is one public function, class or method's docstring (its first paragraph), keyed
``module.name``. Built from the running interpreter, so it needs no download; the same Python
version gives the same corpus.
"""

from __future__ import annotations

import importlib
import inspect
import warnings

MODULES = [
    "os", "os.path", "shutil", "json", "re", "itertools", "functools", "collections", "math",
    "statistics", "random", "string", "textwrap", "time", "pathlib", "subprocess", "glob",
    "fnmatch", "heapq", "bisect", "copy", "csv", "hashlib", "base64", "zlib", "gzip", "tarfile",
    "zipfile", "tempfile", "urllib.parse", "urllib.request", "socket", "threading", "queue",
    "logging", "argparse", "inspect", "operator", "difflib", "calendar", "uuid", "secrets",
    "struct", "shlex", "pprint", "dataclasses", "contextlib", "weakref", "pickle", "io", "codecs",
    "fractions", "decimal", "html", "mimetypes", "ipaddress", "signal", "asyncio", "sqlite3",
    "email.utils", "http.cookies", "getpass", "platform", "locale", "unicodedata", "filecmp",
    "linecache", "tokenize", "ast", "dis", "traceback", "warnings", "gc", "sys", "sched",
    "selectors", "concurrent.futures", "multiprocessing", "xml.etree.ElementTree", "plistlib",
    "configparser", "netrc", "binascii", "quopri", "uu", "wave", "colorsys", "imghdr", "cmath",
    "numbers", "array", "enum", "typing", "abc", "atexit", "site", "sysconfig", "webbrowser",
    "zoneinfo", "graphlib", "secrets", "hmac", "ssl", "smtplib", "ftplib", "poplib",
]  # fmt: skip


def _first_paragraph(doc: str) -> str:
    para = inspect.cleandoc(doc).split("\n\n")[0]
    return " ".join(para.split())


def build_corpus(min_chars: int = 40) -> dict[str, str]:
    """``{"module.name": first paragraph of its docstring}`` for public names with a docstring."""
    docs: dict[str, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for modname in dict.fromkeys(MODULES):
            try:
                module = importlib.import_module(modname)
            except ImportError:
                continue
            for name, obj in sorted(vars(module).items()):
                if name.startswith("_") or inspect.ismodule(obj):
                    continue
                owner = getattr(obj, "__module__", None)
                if owner is not None and owner.split(".")[0] not in (
                    modname.split(".")[0],
                    "posix",
                    "_" + modname.split(".")[0],
                ):
                    continue
                doc = getattr(obj, "__doc__", None)
                if not isinstance(doc, str):
                    continue
                text = _first_paragraph(doc)
                if len(text) >= min_chars and not text.startswith(
                    ("Create a new", "Initialize self")
                ):
                    docs[f"{modname}.{name}"] = text
                if inspect.isclass(obj):
                    for mname, meth in sorted(vars(obj).items()):
                        if mname.startswith("_") or not callable(meth):
                            continue
                        mdoc = getattr(meth, "__doc__", None)
                        if isinstance(mdoc, str):
                            mtext = _first_paragraph(mdoc)
                            if len(mtext) >= min_chars:
                                docs.setdefault(f"{modname}.{name}.{mname}", mtext)
    # Drop exact duplicate texts: a query could not tell them apart.
    seen: dict[str, str] = {}
    for key, text in docs.items():
        seen.setdefault(text, key)
    return {key: text for text, key in seen.items()}


if __name__ == "__main__":
    corpus = build_corpus()
    print(len(corpus))
