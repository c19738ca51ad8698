"""The JSON sidecar written beside every output: what was done, how, and how it went."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from dipbatch.atomic import write_bytes_atomic


def sidecar_path(output: str | Path) -> Path:
    return Path(f"{output}.json")


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_sidecar(output: str | Path, record: dict[str, Any]) -> Path:
    path = sidecar_path(output)
    write_bytes_atomic(path, (json.dumps(record, indent=2, default=_jsonable) + "\n").encode())
    return path


def read_sidecar(output: str | Path) -> dict[str, Any]:
    return json.loads(sidecar_path(output).read_text())


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
