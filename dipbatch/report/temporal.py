"""The report's temporal-consistency section, for datasets of frame sequences.

It shows ``results/<dataset>/temporal.tsv`` (one row per sequence, written by the workflow's
temporal_table rule) and each sequence's per-frame plot, ``consistent/<sequence>/temporal.svg``,
embedded as it is. A dataset without the table (not a sequence dataset, or not that far yet) has no
section; an unreadable table or plot becomes a note, never a failed report.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dipbatch.io.results import CONSISTENT, TEMPORAL_TABLE, read_table
from dipbatch.report.assets import Picture
from dipbatch.temporal.figures import PLOT, TABLE

TEXT_COLUMNS = ("sequence", "status", "method", "check", "warnings", "error")
PT_TO_PX = 4 / 3  # matplotlib sizes its SVGs in points; the page in CSS pixels
_VIEWBOX = re.compile(rb'viewBox="\s*[-\d.]+\s+[-\d.]+\s+([\d.]+)\s+([\d.]+)\s*"')


@dataclass
class SequenceRow:
    """One sequence of the temporal table: its figures (numbers where the cell holds one) and plot."""

    values: dict[str, Any]
    plot: bytes | None = None  # the per-frame SVG
    frames_table: Path | None = None  # the per-frame TSV
    picture: Picture | None = None  # the plot as the report stores it

    @property
    def name(self) -> str:
        return self.values.get("sequence", "")

    @property
    def warnings(self) -> list[str]:
        return [w for w in self.values.get("warnings", "").split("; ") if w]


@dataclass
class TemporalSection:
    sequences: list[SequenceRow] = field(default_factory=list)
    note: str = ""


def _value(column: str, cell: str) -> Any:
    """A cell as the template shows it: text columns as they are, numbers as int or float."""
    if column in TEXT_COLUMNS or cell == "":
        return cell
    try:
        return int(cell) if cell.isdigit() else float(cell)
    except ValueError:
        return cell


def svg_size(payload: bytes) -> tuple[int, int]:
    """The size (CSS pixels) an SVG is drawn at, from its viewBox; 640×480 when it has none."""
    match = _VIEWBOX.search(payload[:2000])
    if not match:
        return 640, 480
    width, height = (float(v) * PT_TO_PX for v in match.groups())
    return math.ceil(width), math.ceil(height)


def read_temporal(results: Path) -> TemporalSection | None:
    """The dataset's temporal table and plots; None when the results folder has no temporal table."""
    table = results / TEMPORAL_TABLE
    if not table.is_file():
        return None
    try:
        rows = read_table(table)
    except (OSError, ValueError, IndexError) as exc:
        return TemporalSection(note=f"{table}: unreadable ({exc})")
    section = TemporalSection()
    for row in rows:
        sequence = SequenceRow({column: _value(column, cell) for column, cell in row.items()})
        folder = results / CONSISTENT / sequence.name
        if (folder / PLOT).is_file():
            sequence.plot = (folder / PLOT).read_bytes()
        if (folder / TABLE).is_file():
            sequence.frames_table = folder / TABLE
        section.sequences.append(sequence)
    return section
