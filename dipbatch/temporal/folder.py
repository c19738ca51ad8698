"""Output folders that appear whole or not at all, with their files on the disk first."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dipbatch.io.atomic import fsync_path


@contextlib.contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `out`; it replaces `out` only if the block succeeds."""
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    try:
        yield stage
        for folder, _, files in os.walk(stage):
            for name in files:
                fsync_path(Path(folder) / name)
            fsync_path(folder)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / out.name)
            shutil.rmtree(old)
        os.replace(stage, out)
        fsync_path(out.parent)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
