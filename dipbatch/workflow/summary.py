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
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dipbatch.errors import DipbatchError
from dipbatch.io.filenames import natural_key
from dipbatch.io.results import (
    CONSISTENT,
    INTERRUPTED_MARK,
    STATUS_FAILED,
    STATUS_INTERRUPTED,
    STATUS_MISSING,
    STATUS_OK,
    STATUSES,
    read_table,
    write_table,
)
from dipbatch.io.sidecar import read_sidecar
from dipbatch.run.doubts import result_warnings
from dipbatch.temporal.figures import (
    CHECK_FELL_BACK,
    CHECK_RAISED,
    CHECK_WEAKENED,
    FRAME_COLUMNS,
    RECORD,
    TABLE,
)
from dipbatch.workflow.attempts import ENDED, last_attempt
from dipbatch.workflow.layout import Layout
from dipbatch.workflow.provisional import date_before_inputs

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
    ensemble: object = ""  # the members that ran (the K of `--ensemble`)
    iterations: object = ""
    stop_reason: str = ""
    stop_kind: str = ""  # signal, cap or fixed
    stop_signal: str = ""  # the signal that fired
    stop_iteration: object = ""
    wall_time_s: object = ""
    sigma_input: object = ""
    sigma_output: object = ""
    ensemble_spread: object = ""  # the members' per-pixel std, image mean, 0-1 scale (K > 1)
    disagreement: object = ""  # RMS difference of the fit's and the classical estimate, in σ (fused)
    final_loss: object = ""
    error: str = ""
    warnings: list[str] = field(default_factory=list)  # doubts about a result that was written
    temporal: dict[str, object] = field(default_factory=dict)  # by TEMPORAL_COLUMNS, for a frame

    def values(self) -> dict[str, Any]:
        """The row by column name, its temporal figures included."""
        return {**{name: getattr(self, name) for name in COLUMNS}, **self.temporal}


#: Column order of ``summary.tsv``: the row's fields, in order (a new field is a new column).
COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Row) if f.name != "temporal")


def job_end(log: str | Path) -> tuple[str, str]:
    """How a job without output ended, read from its log: (status, its one line).

    Only the log's last attempt counts (dipbatch.workflow.attempts). An ``interrupted:`` line
    (INTERRUPTED_MARK), or a closing ``KeyboardInterrupt`` (Python's) or
    ``Aborted!`` (click's, for a Ctrl-C before the fit started), means the
    job was stopped, not wrong: the rerun resumes it. Otherwise ``dipbatch`` reports errors as one
    ``error: <file>: <problem>`` line; the last such line wins. Without one (a crash, a job killed
    by SLURM), the last non-empty line stands in.
    """
    try:
        text = last_attempt(Path(log).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return STATUS_FAILED, ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and ENDED.match(lines[-1]):
        lines.pop()  # the shell's closing line: the job's own last word comes before it
    for prefix, status in ((INTERRUPTED_MARK, STATUS_INTERRUPTED), ("error:", STATUS_FAILED)):
        for line in reversed(lines):
            if line.startswith(prefix):
                return status, line
    # Python's last word on a SIGINT it did not catch, or click's (a Ctrl-C before the fit started)
    if lines and lines[-1] in ("KeyboardInterrupt", "Aborted!"):
        return STATUS_INTERRUPTED, f"{INTERRUPTED_MARK} the job stopped on SIGINT (Ctrl-C)"
    return STATUS_FAILED, lines[-1] if lines else ""


def error_line(log: str | Path) -> str:
    """The one line that says how a job ended (see job_end)."""
    return job_end(log)[1]


#: The temporal pass's doubtful checks (the record's `check`), as a frame's warning.
TEMPORAL_CHECK_WARNINGS = {
    CHECK_RAISED: "temporal pass raised the flicker or warping error",
    CHECK_FELL_BACK: "temporal pass raised the flicker or warping error, or lost fidelity; fell back to the "
                     "per-frame result",
    CHECK_WEAKENED: "temporal pass weakened to keep the frames' fidelity to the observations",
}


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
        for key in ("task", "preset", "iterations", "stop_reason", "stop_kind", "stop_signal",
                    "stop_iteration", "wall_time_s", "sigma_input", "sigma_output", "final_loss"):
            setattr(row, key, meta.get(key, ""))
        row.ensemble = meta.get("params", {}).get("ensemble", "")
        row.ensemble_spread = meta.get("ensemble", {}).get("spread", "")
        row.disagreement = meta.get("fusion", {}).get("disagreement", "")
        row.warnings = result_warnings(meta)
        return row
    if os.path.exists(log):
        row.status, row.error = job_end(log)
        row.error = row.error or "error: the job failed without a message"
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
            figures[rel] = {**frame, "sequence": sequence, "temporal_warnings": warnings,
                            "check": record.get("check", "")}
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
        check = TEMPORAL_CHECK_WARNINGS.get(str(row.temporal.get("check", "")))
        if check:
            row.warnings.append(check)
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

    ``provisional`` summaries (written after a failed run) are dated before their newest input (an
    image's sidecar, or the temporal table), so that the summary rule rebuilds them on the next run.
    """
    rows = build_rows(dataset, images, layout, refused)
    target = layout.summary(dataset)
    write_summary(target, rows)
    if provisional:
        date_before_inputs(target, [layout.sidecar(dataset, image) for image in images]
                           + [layout.temporal_table(dataset)])
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
        messages.append(f"dipbatch: {layout.summary(dataset)}: {counts(rows)}")
        messages += ended_lines(dataset, rows, layout)
    return messages


def ended_lines(dataset: str, rows: Sequence[Row], layout: Layout, limit: int = 10) -> list[str]:
    """One line per image that failed or was interrupted, with its own last word and its log (the
    first `limit`; the rest are counted): the controller's compact account of what went wrong."""
    ended = [row for row in rows if row.status in (STATUS_FAILED, STATUS_INTERRUPTED)]
    lines = [f"dipbatch:   {dataset}/{row.image}: {row.error or row.status} "
             f"(log: {layout.log(dataset, row.image)})" for row in ended[:limit]]
    if len(ended) > limit:
        lines.append(f"dipbatch:   ... and {len(ended) - limit} more in {layout.summary(dataset)}")
    return lines


def counts(rows: Iterable[Row | Mapping[str, str]]) -> str:
    """'3 ok, 1 failed, 0 interrupted, 0 missing, 2 with warnings', of summary rows or table rows."""
    rows = list(rows)
    statuses = [row.status if isinstance(row, Row) else row.get("status", "") for row in rows]
    warned = sum(bool(row.warnings if isinstance(row, Row) else row.get("warnings")) for row in rows)
    return ", ".join([*(f"{statuses.count(s)} {s}" for s in STATUSES), f"{warned} with warnings"])


def start_count(layout: Layout, images: Mapping[str, Sequence[str]]) -> str:
    """What a run starts from: 'N images in M datasets, K already done, J to restore'."""
    total = sum(len(rels) for rels in images.values())
    done = sum(os.path.exists(layout.image(dataset, rel)) and os.path.exists(layout.sidecar(dataset, rel))
               for dataset, rels in images.items() for rel in rels)
    return (f"{total} images in {len(images)} datasets, {done} already done, "
            f"{total - done} to restore")


def dataset_rows(layout: Layout, dataset: str, images: Sequence[str]) -> list[dict[str, str]]:
    """The rows of a dataset's summary table; every image missing when it has none yet."""
    try:
        return read_table(layout.summary(dataset))
    except (OSError, ValueError):
        return [{"image": rel, "status": STATUS_MISSING} for rel in images]


def overall(layout: Layout, images: Mapping[str, Sequence[str]], command: str) -> list[str]:
    """The run's end in a few lines for the controller's log: the counts over every dataset, where
    the summaries are, and, when jobs were interrupted, the command that resumes them."""
    rows = [row for dataset, rels in images.items() for row in dataset_rows(layout, dataset, rels)]
    lines = [f"dipbatch: {len(rows)} images in {len(images)} datasets: {counts(rows)}; "
             f"summaries in {layout.summary('<dataset>')}, reports linked from {layout.index()}"]
    interrupted = sum(row.get("status") == STATUS_INTERRUPTED for row in rows)
    if interrupted:
        lines.append(f"dipbatch: {interrupted} interrupted: run the same command again to resume them "
                     f"(the workflow profile sets --rerun-incomplete): {command}")
    return lines
