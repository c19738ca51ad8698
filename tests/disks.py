"""Disks that fill up, for the tests of what a full disk does (with the `small_disk` fixture)."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path


def fill(disk: Path, leave: int = 0) -> None:
    """Take the disk's free space, all but about `leave` bytes."""
    with open(disk / "filler", "ab") as fh, contextlib.suppress(OSError):
        while shutil.disk_usage(disk).free > leave:
            fh.write(b"\0" * min(65536, max(4096, shutil.disk_usage(disk).free - leave)))
            fh.flush()
