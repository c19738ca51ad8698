"""How dipbatch orders and picks files in a folder (natural order, the names it never treats as
images) and names the hidden files it keeps beside an output."""

from __future__ import annotations

import re
from pathlib import Path

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple:
    """Sort key that orders digit runs by value: ``frame_2`` before ``frame_10``.

    Letters compare case-insensitively; the original string breaks ties so the order is total.
    """
    parts = _DIGITS.split(text)
    key = tuple((0, int(p), "") if i % 2 else (1, 0, p.casefold()) for i, p in enumerate(parts))
    return (key, text)


def is_skipped(name: str) -> bool:
    """True for names discovery never treats as images, whatever the patterns say.

    Hidden files (which include dipbatch's temporary ``.<name>.part<suffix>`` files) and the JSON
    sidecars dipbatch writes beside each output.
    """
    return name.startswith(".") or name.lower().endswith(".json")


def checkpoint_path(output: str | Path) -> Path:
    """The hidden fit checkpoint beside `output` (``.<name>.ckpt``), which discovery skips."""
    output = Path(output)
    return output.with_name(f".{output.name}.ckpt")
