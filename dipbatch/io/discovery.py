"""Find the images under a folder: recursively, in natural order, by case-insensitive patterns.

Links to files are followed, links to folders are not (no loops, no walking out of the tree); hidden
files and dipbatch's sidecars are skipped. It lists folders and never opens an image. The CLI's
folder inputs and the workflow's datasets are found here.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from dipbatch.errors import DipbatchError
from dipbatch.io.filenames import is_skipped, natural_key
from dipbatch.io.images import IMAGE_SUFFIXES

#: Default discovery patterns: every readable image, whatever the case of its suffix.
DEFAULT_PATTERNS: tuple[str, ...] = tuple(f"*{s}" for s in IMAGE_SUFFIXES)

def _compile_patterns(patterns: Iterable[str]) -> tuple[re.Pattern | None, re.Pattern | None]:
    """Two case-insensitive regexes: one for patterns on the file name, one on the relative path."""
    on_name: list[str] = []
    on_path: list[str] = []
    for pattern in patterns:
        while pattern.startswith("**/"):  # discovery is recursive anyway
            pattern = pattern[3:]
        (on_path if "/" in pattern else on_name).append(fnmatch.translate(pattern))
    name_re = re.compile("|".join(on_name), re.IGNORECASE) if on_name else None
    path_re = re.compile("|".join(on_path), re.IGNORECASE) if on_path else None
    return name_re, path_re


def discover(root: str | Path, patterns: Sequence[str] | None = None,
             exclude: Sequence[re.Pattern] = ()) -> list[str]:
    """Relative POSIX paths of the images under ``root``, in natural order.

    The walk is recursive. Links to files are followed (the image is read through the link); links
    to folders are not, so a walk never loops nor leaves the tree; dangling links are listed (see
    `refusal`). Hidden files and folders, and dipbatch's sidecars, are skipped. ``patterns`` are
    shell globs matched case-insensitively against the file name, or against the relative path
    when they contain a ``/``. ``exclude`` holds regexes on the file name for files that belong to
    an image rather than being one (inpainting masks).
    """
    root = Path(root)
    if not root.is_dir():
        raise DipbatchError(root, "is not a folder")
    name_re, path_re = _compile_patterns(patterns if patterns is not None else DEFAULT_PATTERNS)
    found: list[str] = []
    stack = [("", os.fspath(root))]
    while stack:
        prefix, folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            raise DipbatchError(folder, f"cannot list folder ({exc.strerror})") from exc
        for entry in entries:
            name = entry.name
            if is_skipped(name):
                continue
            rel = prefix + name
            if entry.is_dir(follow_symlinks=False):
                stack.append((rel + "/", entry.path))
                continue
            if not entry.is_file() and not (entry.is_symlink() and not os.path.exists(entry.path)):
                continue  # a folder link, a socket...; dangling links go on, to be refused
            if not ((name_re and name_re.match(name)) or (path_re and path_re.match(rel))):
                continue
            if any(rx.match(name) for rx in exclude):
                continue
            found.append(rel)
    found.sort(key=natural_key)
    return found


def is_inside(folder: str | Path, parent: str | Path) -> bool:
    folder, parent = os.path.abspath(folder), os.path.abspath(parent)
    return os.path.commonpath([folder, parent]) == parent
