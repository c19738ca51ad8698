"""What the Snakemake workflow needs for `kind: sequence` datasets (pure functions, cheap at parse time).

- Sequences: the frames of a dataset grouped by folder, each in natural order.
- Warm-start chains: within a sequence, frame i starts from frame i−1's weights, in chunks of K
  frames, so that chunks still run in parallel.
- The dataset's temporal table: one row per sequence, from each sequence's temporal.json.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dipbatch.atomic import write_bytes_atomic
from dipbatch.discovery import natural_key
from dipbatch.temporal.report import RECORD, SEQUENCE_FIELDS

#: Columns of results/<dataset>/temporal.tsv, one row per sequence.
COLUMNS = ("sequence", "status", *SEQUENCE_FIELDS, "warnings", "error")


def sequence_name(folder: str, input_root: str) -> str:
    """A sequence is named by its folder under the dataset; frames at the top by the dataset's folder."""
    return folder or Path(input_root).name


def sequences(images: Sequence[str], input_root: str) -> dict[str, list[str]]:
    """The dataset's frames (relative paths) by sequence name, each list in natural order."""
    found: dict[str, list[str]] = {}
    for rel in images:
        folder = rel.rpartition("/")[0]
        found.setdefault(sequence_name(folder, input_root), []).append(rel)
    return {name: sorted(frames, key=natural_key) for name, frames in sorted(found.items())}


def sequence_folder(frames: Sequence[str]) -> str:
    """The folder (relative to the dataset) that holds a sequence's frames; '' at the top."""
    return frames[0].rpartition("/")[0]


def chain_links(frames: Sequence[str], chunk: int) -> dict[str, str]:
    """For each frame that is not first in its chunk of `chunk` frames: the frame it starts from."""
    return {frames[i]: frames[i - 1] for i in range(1, len(frames)) if i % chunk}


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return "; ".join(" ".join(str(v).split()) for v in value)
    return " ".join(str(value).split())


def sequence_row(name: str, folder: Path, log: Path) -> dict[str, Any]:
    """One row of the dataset's temporal table, from the sequence's record or, failing that, its log."""
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"sequence": name, "status": "failed" if log.exists() else "missing",
                "error": _error_line(log)}
    return {"sequence": name, "status": "ok", **{k: record.get(k) for k in SEQUENCE_FIELDS},
            "warnings": record.get("warnings", [])}


def _error_line(log: Path) -> str:
    try:
        lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return ""
    errors = [line for line in lines if line.startswith("error:")]
    return errors[-1] if errors else next((line for line in reversed(lines) if line), "")


def write_temporal_table(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """results/<dataset>/temporal.tsv, atomically."""
    lines = ["\t".join(COLUMNS)] + ["\t".join(_cell(row.get(c)) for c in COLUMNS) for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, ("\n".join(lines) + "\n").encode())
