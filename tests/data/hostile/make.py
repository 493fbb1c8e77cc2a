"""Write the crafted files of tests/data/hostile/ (run from the repository: ``python
tests/data/hostile/make.py``). Each tries one way a file someone shared could hurt the machine
that opens it; README.md says what each tries and what mindbank must do."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
FORMAT = "mindbank-clf-1"


def clf(name: str, model: object, blob: bytes, header_extra: bytes = b"") -> None:
    doc = {"format": FORMAT, "name": "m", "version": 1, "description": "", "model": model,
           "sha256": hashlib.sha256(blob).hexdigest(), "quantized": None}  # fmt: skip
    with zipfile.ZipFile(HERE / name, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("header.json", header_extra or json.dumps(doc).encode())
        z.writestr("weights.npz", blob)


def npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def main() -> None:
    small = npz(w0=np.zeros((2, 2)), b0=np.zeros(2))
    header = {"sizes": [60_000, 60_000, 60_000], "activations": ["relu"], "head": "softmax",
              "features": [], "config": {}, "target": "y", "classes": [], "target_mean": 0,
              "target_std": 1, "metrics": {}}  # fmt: skip
    clf("layers-60000.clf", header, small)
    clf("sizes-not-numbers.clf", {**header, "sizes": ["a", None]}, small)
    clf("no-activations.clf", {**header, "sizes": [2, 3, 2], "activations": 5}, small)
    deep = b"[" * 100_000 + b"]" * 100_000
    clf("deep-header.clf", header, small, header_extra=deep)
    clf("header-bomb.clf", header, small, header_extra=b" " * 300_000_000)
    (HERE / "deep.jsonl").write_text('{"key": "k", "value": ' + "[" * 50_000 + "]" * 50_000 + "}\n")
    (HERE / "nan-expiry.jsonl").write_text('{"key": "k", "value": 1, "expires_at": NaN}\n')
    (HERE / "not-utf8.jsonl").write_bytes(b'{"key": "k\xff", "value": 1}\n')
    (HERE / "remote-ref.schema.json").write_text(
        json.dumps({"type": "object", "properties": {"a": {"$ref": "http://127.0.0.1:9/x"}}})
    )
    (HERE / "file-ref.schema.json").write_text(json.dumps({"$ref": "file:///etc/passwd"}))
    (HERE / "redos.schema.json").write_text(json.dumps({"type": "string", "pattern": "^(a+)+$"}))


if __name__ == "__main__":
    main()
