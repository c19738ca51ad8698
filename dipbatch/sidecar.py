"""The JSON sidecar written beside every output: what was done, how, and how it went."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any


def sidecar_path(output: str | Path) -> Path:
    return Path(f"{output}.json")


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar_bytes(record: dict[str, Any]) -> bytes:
    """The record as strict JSON (NaN and infinities become null), ready to write."""
    return (json.dumps(_strict(record), indent=2, allow_nan=False) + "\n").encode()


def read_sidecar(output: str | Path) -> dict[str, Any]:
    return json.loads(sidecar_path(output).read_text())


def _strict(value: Any) -> Any:
    """`value` with plain JSON types only: arrays as lists, paths as text, non-finite floats as None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str | int | bool):
        return value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
