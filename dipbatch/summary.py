"""The per-dataset summary table: one row per discovered image, whatever became of its job.

The summary is built from the files on disk — the discovered inputs, the restored images, their
JSON sidecars and the jobs' logs — never from Snakemake's state. The workflow can therefore write it
from a rule when every image succeeded, and from its ``onerror:`` handler when some failed under
``--keep-going`` (Snakemake does not run a rule whose inputs failed).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from dipbatch.atomic import atomic_path
from dipbatch.discovery import Layout

#: Column order of ``summary.tsv``.
COLUMNS: tuple[str, ...] = (
    "image", "status", "output", "task", "preset", "iterations", "stop_reason", "stop_iteration",
    "wall_time_s", "sigma_input", "sigma_output", "final_loss", "error",
)

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_MISSING = "missing"


@dataclass
class Row:
    image: str
    status: str
    output: str
    task: str = ""
    preset: str = ""
    iterations: object = ""
    stop_reason: str = ""
    stop_iteration: object = ""
    wall_time_s: object = ""
    sigma_input: object = ""
    sigma_output: object = ""
    final_loss: object = ""
    error: str = ""

    def cells(self) -> list[str]:
        return [_cell(getattr(self, f.name)) for f in fields(self)]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return " ".join(str(value).split())  # no tabs or newlines inside a cell


def error_line(log: str | Path) -> str:
    """The one-line error of a failed job, read from its log.

    ``dipbatch`` reports errors as one ``error: <file>: <problem>`` line; the last such line wins.
    Without one (a crash, a job killed by SLURM), the last non-empty line stands in.
    """
    try:
        text = Path(log).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error:"):
            return line
    return lines[-1] if lines else ""


def image_row(relpath: str, dataset: str, layout: Layout) -> Row:
    """The summary row of one image, from its output, sidecar and log."""
    output = layout.image(dataset, relpath)
    sidecar = layout.sidecar(dataset, relpath)
    log = layout.log(dataset, relpath)
    row = Row(image=relpath, status=STATUS_MISSING, output="")
    # Snakemake deletes the outputs of a job before it runs and after it fails, so outputs on
    # disk always come from the latest attempt that succeeded.
    if os.path.exists(output) and os.path.exists(sidecar):
        try:
            meta = json.loads(Path(sidecar).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            row.status = STATUS_FAILED
            row.error = f"error: {sidecar}: unreadable sidecar ({exc})"
            return row
        row.status = STATUS_OK
        row.output = output
        for key in ("task", "preset", "iterations", "stop_reason", "stop_iteration",
                    "wall_time_s", "sigma_input", "sigma_output", "final_loss"):
            setattr(row, key, meta.get(key, ""))
        return row
    if os.path.exists(log):
        row.status = STATUS_FAILED
        row.error = error_line(log) or "error: the job failed without a message"
    return row


def build_rows(dataset: str, images: Iterable[str], layout: Layout) -> list[Row]:
    return [image_row(rel, dataset, layout) for rel in images]


def write_summary(path: str | Path, rows: Sequence[Row]) -> None:
    """Write the TSV atomically, so a reader never sees half a table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\t".join(COLUMNS) + "\n")
        for row in rows:
            fh.write("\t".join(row.cells()) + "\n")


def read_summary(path: str | Path) -> list[dict[str, str]]:
    """The rows of a summary as dicts (for tests and reports)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


def summarize_dataset(dataset: str, images: Sequence[str], layout: Layout,
                      provisional: bool = False) -> list[Row]:
    """Build and write ``results/<dataset>/summary.tsv``; return its rows.

    ``provisional`` summaries (written after a failed run) get a modification time one second
    after the epoch, so that Snakemake sees the summary as older than its inputs and rebuilds it
    from the rule as soon as every image has succeeded. Not 0: Snakemake reads an output time of 0
    as "unknown" and then never compares it with the inputs.
    """
    rows = build_rows(dataset, images, layout)
    target = layout.summary(dataset)
    write_summary(target, rows)
    if provisional:
        os.utime(target, (1, 1))
    return rows


def summarize_after_error(datasets: Mapping[str, Sequence[str]], layout: Layout) -> list[str]:
    """Write a provisional summary for every dataset that has started; never raise.

    Called from the Snakefile's ``onerror:`` handler. Returns one message per dataset.
    """
    messages = []
    for dataset, images in datasets.items():
        started = any(os.path.exists(layout.log(dataset, rel)) for rel in images)
        if not started:
            continue
        try:
            rows = summarize_dataset(dataset, images, layout, provisional=True)
        except Exception as exc:  # the handler must not mask the run's own error
            messages.append(f"dipbatch: could not write {layout.summary(dataset)}: {exc}")
            continue
        counts = {s: sum(r.status == s for r in rows)
                  for s in (STATUS_OK, STATUS_FAILED, STATUS_MISSING)}
        messages.append(
            f"dipbatch: {layout.summary(dataset)}: {counts[STATUS_OK]} ok, "
            f"{counts[STATUS_FAILED]} failed, {counts[STATUS_MISSING]} missing"
        )
    return messages
