"""Fit checkpoints: the whole fit state, written atomically, resumed only by the same job.

A checkpoint is data, never code: a plain header line holding the job's key comes first and is
compared before anything is deserialised, and the state after it is loaded with
`torch.load(weights_only=True)`, which builds tensors and plain containers only. A checkpoint that
does not match, does not load, or holds a state that does not fit the job (`resumed`) is ignored
with a warning, and the fit starts over; one that cannot
be written is a warning too, and the fit goes on.
"""

from __future__ import annotations

import contextlib
import io
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from dipbatch.errors import short, warn
from dipbatch.io.atomic import atomic_path
from dipbatch.io.filenames import checkpoint_path

MAGIC = b"dipbatch-checkpoint 1 "


def _header(key: str) -> bytes:
    return MAGIC + key.encode("ascii") + b"\n"


def save_checkpoint(path: Path, key: str, state: dict[str, Any]) -> None:
    """Write `state` under `key`; a failure (a full disk) is a warning, never the end of the fit."""
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            fh.write(_header(key))
            torch.save(state, fh)
    except (OSError, RuntimeError) as exc:  # torch reports a short write as a RuntimeError
        warn(path, f"cannot write the checkpoint ({short(exc)}); the fit goes on without it")


def load_checkpoint(path: Path, key: str) -> dict[str, Any] | None:
    """The saved state if `path` holds a checkpoint of the same job (same inputs and options)."""
    if not path.is_file():
        return None
    header = _header(key)
    try:
        with open(path, "rb") as fh:
            if fh.read(len(header)) != header:
                warn(path, "not a checkpoint of this job; ignored, the fit starts over")
                return None
            state = torch.load(io.BytesIO(fh.read()), map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged file, or one holding more than data, is never fatal
        warn(path, f"cannot load the checkpoint ({short(exc)}); ignored, the fit starts over")
        return None
    return state if isinstance(state, dict) else None


def resumed(path: Path, load: Callable[[Any], None], state: Any) -> bool:
    """`load(state)`: put a checkpoint's state into the fit. A state that does not fit (another
    image's, or of unexpected types) is a warning, and the fit starts over. True if it resumed."""
    try:
        load(state)
    except Exception as exc:  # whatever the state holds, it never ends the fit
        warn(path, f"cannot resume from the checkpoint ({short(exc)}); ignored, the fit starts over")
        return False
    return True


def remove_checkpoints(output: str | Path) -> None:
    """Delete the checkpoints of `output`: the whole frame's and its tiled batches' (0, 1, ...)."""
    base = checkpoint_path(output)
    with contextlib.suppress(FileNotFoundError):
        base.unlink()
    for batch in itertools.count():
        try:
            base.with_name(f"{base.stem}.{batch}{base.suffix}").unlink()
        except FileNotFoundError:
            return
