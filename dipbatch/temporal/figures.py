"""What the temporal pass writes beside the consistent frames: a per-frame table, a record, a plot.

- ``temporal.tsv``: one row per frame; the columns are FRAME_COLUMNS.
- ``temporal.json``: the sequence's figures (SEQUENCE_FIELDS), its warnings, its options.
- ``temporal.svg``: warping error and flicker per frame, for the input, the per-frame results and
  the consistent result.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dipbatch.io.atomic import atomic_path, write_bytes_atomic

if TYPE_CHECKING:
    from dipbatch.temporal.metrics import VersionMetrics

VERSIONS = ("input", "frames", "consistent")  # frames: the per-frame results
FRAME_COLUMNS = ("frame", *(f"warp_error_{v}" for v in VERSIONS), *(f"flicker_{v}" for v in VERSIONS),
                 "fidelity_psnr")
SEQUENCE_FIELDS = ("frames", "method", "check", "strength", *(f"warp_error_{v}" for v in VERSIONS),
                   *(f"flicker_{v}" for v in VERSIONS), "fidelity_psnr", "wall_time_s")
TABLE, RECORD, PLOT = "temporal.tsv", "temporal.json", "temporal.svg"
# The pass's check of its own result: it lowered (or kept) both metrics; it raised the warping
# error or the flicker; it raised one and the per-frame frames were kept instead (fallback). And its
# fidelity guard (dipbatch.temporal.fidelity): it weakened the pass to keep the frames as close to
# the observations as the noise allows (the per-frame frames kept: fell back).
CHECK_OK, CHECK_RAISED, CHECK_FELL_BACK, CHECK_WEAKENED = "ok", "raised", "fell back", "weakened"


@dataclass
class TemporalReport:
    """The temporal figures of one sequence."""

    sequence: str
    method: str
    frame_names: list[str]
    metrics: dict[str, VersionMetrics]  # by version
    fidelity: np.ndarray  # per frame: PSNR (dB) of the consistent frame against the per-frame result
    warnings: list[str] = field(default_factory=list)
    check: str = CHECK_OK
    wall_time_s: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    strength: float = 1.0  # how much of the pass was applied (the fidelity guard's α)
    guard: dict[str, float] = field(default_factory=dict)  # the fidelity guard's figures, if it ran

    def figures(self) -> dict[str, Any]:
        """The sequence's figures, keyed by SEQUENCE_FIELDS."""
        finite = self.fidelity[np.isfinite(self.fidelity)]
        values: dict[str, Any] = {"frames": len(self.frame_names), "method": self.method, "check": self.check,
                                  "strength": self.strength}
        for version in VERSIONS:
            values[f"warp_error_{version}"] = self.metrics[version].mean_warp_error
        for version in VERSIONS:
            values[f"flicker_{version}"] = self.metrics[version].flicker_index
        values["fidelity_psnr"] = float(finite.mean()) if finite.size else math.inf
        values["wall_time_s"] = round(self.wall_time_s, 3)
        return values


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def write_table(path: Path, report: TemporalReport) -> None:
    rows = ["\t".join(FRAME_COLUMNS)]
    for t, name in enumerate(report.frame_names):
        cells = [name]
        cells += [_cell(float(report.metrics[v].warp_error[t])) for v in VERSIONS]
        cells += [_cell(float(report.metrics[v].flicker[t])) for v in VERSIONS]
        cells.append(_cell(float(report.fidelity[t])))
        rows.append("\t".join(cells))
    write_bytes_atomic(path, ("\n".join(rows) + "\n").encode())


def _json_value(value: Any) -> Any:
    """NaN and infinity become null: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_record(path: Path, report: TemporalReport) -> None:
    figures = {k: _json_value(v) for k, v in report.figures().items()}
    record = {"sequence": report.sequence, **figures, "warnings": report.warnings,
              "fidelity_guard": report.guard, "options": report.options}
    write_bytes_atomic(path, (json.dumps(record, indent=2, default=str) + "\n").encode())


def write_plot(path: Path, report: TemporalReport) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    frames = np.arange(1, len(report.frame_names) + 1)
    check = "" if report.check == CHECK_OK else f", {report.check}"
    labels = {"input": "input", "frames": "per-frame result",
              "consistent": f"consistent ({report.method}{check})"}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    for version in VERSIONS:
        top.plot(frames, report.metrics[version].warp_error, marker="o", label=labels[version])
        bottom.plot(frames, report.metrics[version].flicker, marker="o", label=labels[version])
    top.set_yscale("log")
    top.set_ylabel("warping error (MSE)")
    bottom.set_ylabel("flicker (static pixels)")
    bottom.set_xlabel("frame")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    top.set_title(report.sequence)
    top.legend(fontsize="small")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="svg")
    plt.close(fig)


def write_report(folder: Path, report: TemporalReport) -> None:
    """The table, the record and the plot, into `folder`."""
    write_table(folder / TABLE, report)
    write_record(folder / RECORD, report)
    write_plot(folder / PLOT, report)
