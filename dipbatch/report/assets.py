"""Where the report's pictures go: inline as data URIs (one self-contained file), or into a folder
beside the HTML (for datasets too large for one file). Either way nothing is fetched from a network."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from dipbatch.io.atomic import write_bytes_atomic


@dataclass(frozen=True)
class Picture:
    """One stored picture: its `src` and the size it is shown at (CSS pixels)."""

    src: str
    width: int
    height: int
    zoom: int = 1


class Assets(Protocol):
    def add(self, name: str, payload: bytes, mime: str) -> str:
        """Store one picture; return the `src` the HTML uses for it."""


class InlineAssets:
    def add(self, name: str, payload: bytes, mime: str) -> str:
        return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


class FolderAssets:
    """Pictures in `<report stem>_files/` beside the report, linked by relative paths."""

    def __init__(self, report: Path) -> None:
        self.folder = report.parent / f"{report.stem}_files"
        self.folder.mkdir(parents=True, exist_ok=True)

    def add(self, name: str, payload: bytes, mime: str) -> str:
        write_bytes_atomic(self.folder / name, payload)
        return f"{quote(self.folder.name)}/{quote(name)}"
