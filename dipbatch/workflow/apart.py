"""Inputs are untouchable: no file the workflow plans to write may be, or lie in, an input.

Snakemake deletes a job's planned outputs before it runs the job (and after it fails), so a planned
output that resolves to an original deletes it. Comparing the configured `output` and `input`
folders is not enough: a link anywhere below the output (``results/<dataset>`` → the input folder,
a subfolder, one file) or a hard link to an original leads there too. So, before the DAG is built,
every planned output (image, sidecar, checkpoint, log, benchmark, summary, report, temporal
folders...) is resolved, links followed at every level, and refused if it equals or lies in an
input folder, equals an input file (through a link), or is the same inode as one (a hard link).
It lists folders and looks at files that exist; it opens no image.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from stat import S_ISLNK
from typing import Any

from dipbatch.errors import DipbatchError
from dipbatch.io.discovery import is_inside
from dipbatch.io.filenames import checkpoint_path
from dipbatch.workflow.layout import Layout

#: The dataset keys that name folders the workflow reads.
INPUT_KEYS = ("input", "mask_dir", "reference")


def image_outputs(layout: Layout, dataset: str, rel: str) -> list[str]:
    """The files the workflow may write for one image (the warm-start weights included)."""
    image = layout.image(dataset, rel)
    return [image, layout.sidecar(dataset, rel), str(checkpoint_path(image)), layout.weights(dataset, rel),
            layout.log(dataset, rel), layout.benchmark(dataset, rel)]


def dataset_outputs(layout: Layout, dataset: str) -> list[str]:
    """The files the workflow may write for a whole dataset."""
    return [layout.summary(dataset), layout.report(dataset), layout.temporal_table(dataset),
            layout.summary_log(dataset), layout.report_log(dataset), layout.temporal_table_log(dataset)]


def check_apart(layout: Layout, datasets: Mapping[str, Mapping[str, Any]],
                images: Mapping[str, Sequence[str]], folders: Iterable[str] = (),
                files: Iterable[str] = ()) -> None:
    """Refuse (DipbatchError naming the output) a planned output that is, or lies in, an input:
    the images' and datasets' files, and the other planned `folders` and `files` (a sequence's).

    Every folder that holds a planned file, and every planned folder, is resolved (links followed
    at every level); a planned file that exists is looked at only if it is itself a link or has
    other hard links."""
    inputs = _Inputs(datasets, images)
    folders, files = list(folders), [layout.index(), layout.index_log(), *files]
    for name in datasets:
        files += dataset_outputs(layout, name)
        for rel in images[name]:
            files += image_outputs(layout, name, rel)
    for folder in sorted({os.path.dirname(p) or "." for p in files + folders}) + folders:
        _refuse(folder, inputs.folder_problem(os.path.realpath(folder)))
    for path in files:
        _refuse(path, inputs.file_problem(path))


def _refuse(path: str, problem: str | None) -> None:
    if problem:
        raise DipbatchError(path, f"this planned output {problem}{_through_link(path)}; Snakemake deletes "
                                  "a job's outputs before it runs, which would delete the original: keep "
                                  "the results apart from the inputs")


def _through_link(path: str) -> str:
    """` (through the link X -> Y)` for the first link on the way to `path`, or ''."""
    parts = Path(path).parts
    for k in range(1, len(parts) + 1):
        step = Path(*parts[:k])
        if step.is_symlink():
            return f" (through the link {step} -> {os.readlink(step)})"
    return ""


class _Inputs:
    """The datasets' input folders, and their files, looked at only when a planned output needs them:
    the resolved targets of the links among them, and every one's inode (for hard links)."""

    def __init__(self, datasets: Mapping[str, Mapping[str, Any]],
                 images: Mapping[str, Sequence[str]]) -> None:
        self.folders = {os.path.realpath(ds[key]): f"the {key} folder of datasets.{name} ({ds[key]!r})"
                        for name, ds in datasets.items() for key in INPUT_KEYS if key in ds}
        self._paths = [os.path.join(ds["input"], rel) for name, ds in datasets.items()
                       for rel in images[name]]
        self._linked: dict[str, str] | None = None
        self._inodes: dict[tuple[int, int], str] | None = None

    def folder_problem(self, real: str) -> str | None:
        """What input folder a resolved planned path is or lies in, in words, or None."""
        for folder, what in self.folders.items():
            if real == folder or is_inside(real, folder):
                return f"{'is' if real == folder else 'lies in'} {what}"
        return None

    def file_problem(self, path: str) -> str | None:
        """What input a planned file reaches as a link or a hard link, in words, or None."""
        try:
            stat = os.lstat(path)
        except OSError:
            return None  # not there: its folder's check covers it
        if S_ISLNK(stat.st_mode):
            real = os.path.realpath(path)
            found = self.folder_problem(real)
            if found or real not in self.linked():
                return found
            return f"is the input file {self.linked()[real]}"
        if stat.st_nlink > 1 and (stat.st_dev, stat.st_ino) in self.inodes():
            return f"is a hard link to the input file {self.inodes()[(stat.st_dev, stat.st_ino)]}"
        return None

    def linked(self) -> dict[str, str]:
        """The resolved targets of the input files that are links (they may lie anywhere)."""
        if self._linked is None:
            self._linked = {os.path.realpath(p): p for p in self._paths if os.path.islink(p)}
        return self._linked

    def inodes(self) -> dict[tuple[int, int], str]:
        if self._inodes is None:
            self._inodes = {}
            for p in self._paths:
                try:
                    stat = os.stat(p)
                except OSError:
                    continue
                self._inodes[(stat.st_dev, stat.st_ino)] = p
        return self._inodes
