"""A dataset's results folder, as the workflow writes it and the report reads it: the names of its
files, its TSV tables (one cell format, written atomically, read back) and the job statuses."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dipbatch.io.atomic import write_bytes_atomic

SUMMARY = "summary.tsv"  # one row per image
TEMPORAL_TABLE = "temporal.tsv"  # one row per sequence (kind: sequence datasets)
CONSISTENT = "consistent"  # consistent/<sequence>/: a sequence's temporal pass
DECODED = "decoded"  # decoded/<video>/: the frames of a video in a sequence dataset
PACKED = ".packed"  # .packed/<first image>/: a packed job's results, before each is put in place
REPORT = "report.html"
INDEX = "index.html"  # in the results folder: links every dataset's report

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_INTERRUPTED = "interrupted"  # the job was stopped (Ctrl-C, SIGTERM, a time limit): rerun resumes it
STATUS_MISSING = "missing"
STATUSES = (STATUS_OK, STATUS_FAILED, STATUS_INTERRUPTED, STATUS_MISSING)

#: How a log line starts when its job was interrupted: `dipbatch restore` writes it on SIGTERM or
#: SIGINT after saving its checkpoint, the workflow's job shell when the job died of the signal.
INTERRUPTED_MARK = "interrupted:"


def cell(value: Any) -> str:
    """A value as one TSV cell: empty for None or a non-finite number. A tab, newline or quote
    inside (a file name may hold one) is quoted by the csv module on writing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return "; ".join(" ".join(str(v).split()) for v in value)
    return str(value)


def write_table(path: str | Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """A TSV table with a header line, written atomically so a reader never sees half of it."""
    text = io.StringIO()
    writer = csv.writer(text, delimiter="\t", lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([cell(row.get(c)) for c in columns] for row in rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, text.getvalue().encode())


def read_table(path: str | Path) -> list[dict[str, str]]:
    """The rows of a TSV table as dicts keyed by its header; quoted cells come back as written."""
    with open(path, encoding="utf-8", newline="") as fh:
        header, *rows = csv.reader(fh, delimiter="\t")
    return [dict(zip(header, row, strict=True)) for row in rows]


#: The format of `dipbatch restore --outcomes`: every input's outcome, for the workflow's packed jobs.
OUTCOMES_FORMAT = "dipbatch-outcomes-1"


def write_outcomes(path: str | Path, rows: Sequence[Mapping[str, str]]) -> None:
    """Each input's outcome (input, output, status ok or failed, and its done: or error: line)."""
    payload = {"format": OUTCOMES_FORMAT, "outcomes": list(rows)}
    write_bytes_atomic(path, json.dumps(payload, indent=1).encode())


def read_outcomes(path: str | Path) -> dict[str, dict[str, str]]:
    """The outcomes `write_outcomes` wrote, by output path; {} for a file that is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != OUTCOMES_FORMAT:
        return {}
    rows = data.get("outcomes", [])
    return {row["output"]: row for row in rows if isinstance(row, dict) and "output" in row}
