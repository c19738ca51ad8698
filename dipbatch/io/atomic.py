"""Atomic and durable file writes: temporary files in the target folder, flushed to the disk, then
renamed, and the folder flushed after each rename (so a power cut leaves whole files, in order)."""

from __future__ import annotations

import contextlib
import errno
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


#: Errors of an fsync that the filesystem does not offer (some network and FUSE filesystems):
#: the write then is atomic but not durable, as it would be without the call.
_NO_FSYNC = (errno.EINVAL, errno.ENOTSUP, errno.EROFS)


def fsync_path(path: str | Path) -> None:
    """Flush a file's data, or a folder's entries, to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_FSYNC:
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_paths(*finals: str | Path) -> Iterator[list[Path]]:
    """Yield a temporary path beside each of `finals`; put them all into place only if the block
    succeeds, durably and in an order that keeps the first file and its companions a pair:

    1. every temporary file is flushed to the disk;
    2. the older companions (all but the first) are removed, and their folders flushed, so the
       files of this write never sit beside a companion left by another write;
    3. each file is renamed into place, the first one first, and its folder flushed before the next.

    A kill or a power cut at any moment leaves the old files, the first file without companions
    (which counts as not done), or the new set, never a companion beside the wrong first file, and
    never a file renamed into place before its data reached the disk."""
    tmps: list[Path] = []
    try:
        for final in finals:
            tmps.append(temp_beside(final))
        yield tmps
        for tmp in tmps:
            fsync_path(tmp)
        removed = set()
        for final in finals[1:]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(final)
                removed.add(Path(final).parent)
        for folder in removed:
            fsync_path(folder)
        for tmp, final in zip(tmps, finals, strict=True):
            os.replace(tmp, final)
            fsync_path(Path(final).parent)
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
