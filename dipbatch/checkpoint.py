"""Fit checkpoints: the whole fit state, written atomically, resumed only by the same job."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch

from dipbatch.atomic import atomic_path


def checkpoint_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(f".{output.name}.ckpt")


def save_checkpoint(path: Path, key: str, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save({"key": key, "state": state}, tmp)


def load_checkpoint(path: Path, key: str) -> dict[str, Any] | None:
    """The saved state if `path` holds a checkpoint of the same job (same inputs and options)."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # a foreign or damaged file is ignored, never fatal
        return None
    return saved["state"] if isinstance(saved, dict) and saved.get("key") == key else None


def remove_checkpoint(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
