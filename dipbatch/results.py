"""A dataset's results folder, as the workflow writes it and the report reads it: the names of its
files, its TSV tables (one cell format, written atomically, read back) and the job statuses."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dipbatch.atomic import write_bytes_atomic

SUMMARY = "summary.tsv"  # one row per image
TEMPORAL_TABLE = "temporal.tsv"  # one row per sequence (kind: sequence datasets)
CONSISTENT = "consistent"  # consistent/<sequence>/: a sequence's temporal pass
REPORT = "report.html"

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_MISSING = "missing"


def cell(value: Any) -> str:
    """A value as one TSV cell: empty for None or a non-finite number, no tabs or newlines inside."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return "; ".join(" ".join(str(v).split()) for v in value)
    return " ".join(str(value).split())


def write_table(path: str | Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """A TSV table with a header line, written atomically so a reader never sees half of it."""
    lines = ["\t".join(columns)] + ["\t".join(cell(row.get(c)) for c in columns) for row in rows]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, ("\n".join(lines) + "\n").encode())


def read_table(path: str | Path) -> list[dict[str, str]]:
    """The rows of a TSV table as dicts keyed by its header."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]
