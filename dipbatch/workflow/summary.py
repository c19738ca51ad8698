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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dipbatch.errors import DipbatchError
from dipbatch.filenames import natural_key
from dipbatch.results import CONSISTENT, STATUS_FAILED, STATUS_MISSING, STATUS_OK, read_table, write_table
from dipbatch.sidecar import read_sidecar
from dipbatch.temporal.report import FRAME_COLUMNS, RECORD, TABLE
from dipbatch.workflow.layout import Layout

#: Column order of ``summary.tsv``.
COLUMNS: tuple[str, ...] = (
    "image", "status", "output", "task", "preset", "iterations", "stop_reason", "stop_iteration",
    "wall_time_s", "sigma_input", "sigma_output", "final_loss", "error",
)
#: Columns added after COLUMNS in a sequence dataset's summary, once its temporal pass has run: each
#: frame's figures from its sequence's ``consistent/<sequence>/temporal.tsv`` and the sequence's
#: warnings (a gap in the numbering).
TEMPORAL_COLUMNS: tuple[str, ...] = ("sequence", *FRAME_COLUMNS[1:], "temporal_warnings")


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
    temporal: dict[str, object] = field(default_factory=dict)  # by TEMPORAL_COLUMNS, for a frame

    def values(self) -> dict[str, Any]:
        """The row by column name, its temporal figures included."""
        return {**{name: getattr(self, name) for name in COLUMNS}, **self.temporal}


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
            meta = read_sidecar(output)
        except DipbatchError as exc:
            row.status = STATUS_FAILED
            row.error = f"error: {exc}"
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


def frame_figures(dataset: str, layout: Layout) -> dict[str, dict[str, object]]:
    """The temporal figures of every frame of the dataset's sequences, by the frame's relative path.

    Each sequence's ``consistent/<sequence>/temporal.json`` names the folder of restored frames it
    read, which places the frames of its ``temporal.tsv`` in the dataset; a sequence whose files
    are missing or unreadable (its temporal job failed) adds nothing.
    """
    figures: dict[str, dict[str, object]] = {}
    consistent = Path(layout.dataset(dataset)) / CONSISTENT
    for record_path in sorted(consistent.rglob(RECORD)) if consistent.is_dir() else []:
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            folder = os.path.relpath(record["options"]["restored"], layout.image(dataset, ""))
            frames = read_table(record_path.parent / TABLE)
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            continue
        sequence = record_path.parent.relative_to(consistent).as_posix()
        warnings = "; ".join(str(w) for w in record.get("warnings") or [])
        for frame in frames:
            rel = frame["frame"] if folder == "." else f"{Path(folder).as_posix()}/{frame['frame']}"
            figures[rel] = {**frame, "sequence": sequence, "temporal_warnings": warnings}
    return figures


def build_rows(dataset: str, images: Iterable[str], layout: Layout,
               refused: Mapping[str, str] | None = None) -> list[Row]:
    """The summary's rows; a sequence's frames with their temporal figures, once it has some.

    `refused` holds the files discovery found but the workflow cannot restore (a dangling link, a
    name Snakemake cannot carry), each with its error: they are failed rows among the others.
    """
    figures = frame_figures(dataset, layout)
    rows = [image_row(rel, dataset, layout) for rel in images]
    if refused:  # into the natural order of the discovered images
        rows += [Row(image=rel, status=STATUS_FAILED, output="", error=error)
                 for rel, error in refused.items()]
        rows.sort(key=lambda row: natural_key(row.image))
    for row in rows:
        row.temporal = figures.get(row.image, {})
    return rows


def write_summary(path: str | Path, rows: Sequence[Row]) -> None:
    """Write the TSV atomically, so a reader never sees half a table.

    The TEMPORAL_COLUMNS follow when some row has temporal figures (a sequence dataset).
    """
    temporal = any(row.temporal for row in rows)
    write_table(path, COLUMNS + TEMPORAL_COLUMNS if temporal else COLUMNS, [row.values() for row in rows])


def summarize_dataset(dataset: str, images: Sequence[str], layout: Layout,
                      provisional: bool = False, refused: Mapping[str, str] | None = None) -> list[Row]:
    """Build and write ``results/<dataset>/summary.tsv``; return its rows.

    ``provisional`` summaries (written after a failed run) get a modification time one second
    after the epoch, so that Snakemake sees the summary as older than its inputs and rebuilds it
    from the rule as soon as every image has succeeded. Not 0: Snakemake reads an output time of 0
    as "unknown" and then never compares it with the inputs.
    """
    rows = build_rows(dataset, images, layout, refused)
    target = layout.summary(dataset)
    write_summary(target, rows)
    if provisional:
        os.utime(target, (1, 1))
    return rows


def summarize_after_error(datasets: Mapping[str, Sequence[str]], layout: Layout,
                          refused: Mapping[str, Mapping[str, str]] | None = None) -> list[str]:
    """Write a provisional summary for every dataset that has started; never raise.

    Called from the Snakefile's ``onerror:`` handler, with each dataset's `refused` files (see
    build_rows). Returns one message per dataset.
    """
    messages = []
    for dataset, images in datasets.items():
        started = any(os.path.exists(layout.log(dataset, rel)) for rel in images)
        if not started:
            continue
        try:
            rows = summarize_dataset(dataset, images, layout, provisional=True,
                                     refused=(refused or {}).get(dataset))
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
