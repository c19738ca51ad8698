"""What the report is made of: one entry per image of a dataset, from summary.tsv and the sidecars.

Paths in a sidecar are relative to the folder the workflow ran in, which need not be the current
one; `Locations` says where the dataset's inputs, references and logs are, and every lookup
degrades to None (shown as "not found") rather than failing the whole report.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dipbatch.errors import DipbatchError
from dipbatch.io.results import (
    STATUS_FAILED,
    STATUS_INTERRUPTED,
    STATUS_MISSING,
    STATUS_OK,
    SUMMARY,
    read_table,
)
from dipbatch.io.sidecar import Sidecar, read_sidecar


@dataclass(frozen=True)
class Locations:
    """Where the files of one dataset are: its results folder (``<output>/<dataset>``) and, when
    known, the folders of its inputs and clean references, and where each image's log is (the
    workflow's layout says: ``dipbatch.workflow.pages.dataset_locations``)."""

    results: Path
    inputs: Path | None = None
    reference: Path | None = None
    log_of: Callable[[str], Path] | None = None  # an image's log

    @property
    def dataset(self) -> str:
        return self.results.resolve().name

    def log(self, image: str) -> Path | None:
        return self.log_of(image) if self.log_of is not None else None

    def input(self, image: str, record: Sidecar | dict[str, Any] | None) -> Path | None:
        """The original image: in the dataset's input folder, else where its sidecar says."""
        candidates = [self.inputs / image] if self.inputs else []
        if record and record.get("input"):
            candidates.append(Path(record["input"]))
        return next((p for p in candidates if p.is_file()), None)

    def reference_of(self, image: str) -> Path | None:
        return self.reference / image if self.reference else None


@dataclass
class Entry:
    """One image of the dataset, whatever became of it."""

    index: int
    image: str
    status: str
    error: str
    log: Path | None
    record: dict[str, Any] | None  # the sidecar (`Sidecar`), read as it is on disk
    output: Path | None
    input: Path | None
    warnings: list[str]  # the summary's doubts about a written result (ran to the cap, ...)

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK and self.record is not None


def read_entries(locations: Locations) -> list[Entry]:
    """The dataset's images in the summary's order, each with its sidecar record when it succeeded."""
    summary = locations.results / SUMMARY
    if not locations.results.is_dir():
        raise DipbatchError(locations.results, "is not a results folder")
    if not summary.is_file():
        raise DipbatchError(locations.results, f"has no {SUMMARY}; the workflow writes it "
                                               "at the end of each dataset")
    try:
        rows = read_table(summary)
    except (OSError, ValueError, IndexError) as exc:
        raise DipbatchError(summary, f"is not a dipbatch summary table ({exc})") from None
    entries = []
    for index, row in enumerate(rows, start=1):
        image = row.get("image", "")
        if not image:
            raise DipbatchError(summary, f"row {index} names no image")
        output = locations.results / image
        status = row.get("status", STATUS_MISSING)
        error = row.get("error", "")
        record = None
        if status == STATUS_OK:
            try:
                record = dict(read_sidecar(output))
            except DipbatchError as exc:
                status, error = STATUS_FAILED, f"error: {exc}"
        log = Path(row["log"]) if row.get("log") else locations.log(image)
        warnings = [w.strip() for w in row.get("warnings", "").split(";") if w.strip()]
        entries.append(Entry(index=index, image=image, status=status, error=error, log=log,
                             record=record, output=output if output.is_file() else None,
                             input=locations.input(image, record), warnings=warnings))
    return entries


@dataclass(frozen=True)
class Overview:
    """The report's header: how the dataset went, on what, with which recipe."""

    dataset: str
    done: int
    failed: int
    interrupted: int
    missing: int
    warned: int  # images whose row has warnings
    total_time_s: float
    median_time_s: float | None
    devices: list[str]
    versions: list[str]
    recipes: list[tuple[int, str]]  # (images, the recipe as YAML), most used first


def _seconds(record: dict[str, Any]) -> float | None:
    value = record.get("wall_time_s")
    return float(value) if isinstance(value, (int, float)) else None


def overview(dataset: str, entries: list[Entry]) -> Overview:
    done = [e.record for e in entries if e.ok and e.record is not None]
    times = [t for t in map(_seconds, done) if t is not None]
    recipes = Counter(yaml.safe_dump(r.get("params"), sort_keys=False) for r in done if r.get("params"))
    return Overview(
        dataset=dataset,
        done=len(done),
        failed=sum(e.status == STATUS_FAILED for e in entries),
        interrupted=sum(e.status == STATUS_INTERRUPTED for e in entries),
        missing=sum(e.status == STATUS_MISSING for e in entries),
        warned=sum(bool(e.warnings) for e in entries),
        total_time_s=sum(times),
        median_time_s=statistics.median(times) if times else None,
        devices=sorted({str(r["device"]) for r in done if r.get("device")}),
        versions=sorted({str(r["dipbatch_version"]) for r in done if r.get("dipbatch_version")}),
        recipes=[(n, text) for text, n in recipes.most_common()],
    )
