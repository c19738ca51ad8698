"""Atomic file writes: temporary files in the target folder, then renames."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def temp_beside(final: str | Path) -> Path:
    """A new empty temporary file beside `final`, named like it (hidden, `.part`), with the usual mode."""
    final = Path(final)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part" + final.suffix,
                               dir=final.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
    return Path(tmp)


@contextlib.contextmanager
def atomic_paths(*finals: str | Path) -> Iterator[list[Path]]:
    """Yield a temporary path beside each of `finals`; rename them all into place only if the block
    succeeds. The older companions (all but the first) are removed before the first is renamed, so
    the files of this write never sit beside a companion left by another write (an interruption
    leaves the first file without companions, never with stale ones)."""
    tmps: list[Path] = []
    try:
        for final in finals:
            tmps.append(temp_beside(final))
        yield tmps
        for final in finals[1:]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(final)
        for tmp, final in zip(tmps, finals, strict=True):
            os.replace(tmp, final)
    finally:
        for tmp in tmps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it onto `final` only if the block succeeds."""
    with atomic_paths(final) as (tmp,):
        yield tmp


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(final: str | Path, payload: bytes) -> None:
    """Write `payload` to `final` atomically."""
    with atomic_path(final) as tmp:
        tmp.write_bytes(payload)
