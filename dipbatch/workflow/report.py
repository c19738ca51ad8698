"""The workflow's side of the reports: where each dataset's report goes, and writing it from the
`report` rule or, after failed jobs, from the Snakefile's ``onerror:`` handler.

Imported by ``workflow/rules/report.smk`` at parse time, so the heavy imports (matplotlib, torch)
wait until a report is written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dipbatch.discovery import Layout
from dipbatch.report.collect import Locations


def report_path(layout: Layout, dataset: str) -> str:
    return f"{layout.results}/{dataset}/report.html"


def report_targets(layout: Layout, datasets: Mapping[str, Any]) -> list[str]:
    return [report_path(layout, dataset) for dataset in datasets]


def dataset_locations(layout: Layout, dataset: str, entry: Mapping[str, Any]) -> Locations:
    """Where a dataset's files are, from its (validated) entry of the workflow config."""
    return Locations(
        results=Path(layout.results) / dataset,
        inputs=Path(entry["input"]),
        reference=Path(entry["reference"]) if entry.get("reference") else None,
        logs=Path(layout.logs),
    )


def write_dataset_report(layout: Layout, dataset: str, entry: Mapping[str, Any],
                         provisional: bool = False, log: str | None = None) -> str:
    """Write the dataset's report; return a one-line message, also written to `log` if given.

    A provisional report (after a failed run) gets a modification time near the epoch, so that the
    rule rebuilds it once every image has succeeded. Not 0: Snakemake takes an output time of 0 for
    "unknown" and then never compares it with the inputs.
    """
    from dipbatch.report.build import write_report

    target = report_path(layout, dataset)
    views = write_report(dataset_locations(layout, dataset, entry), Path(target), config=dict(entry))
    if provisional:
        os.utime(target, (1, 1))
    message = f"dipbatch: {target}: {len(views)} images"
    if log:
        Path(log).write_text(message + "\n", encoding="utf-8")
    return message


def reports_after_error(layout: Layout, datasets: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Provisional reports for every dataset that has a summary; never raises (onerror: handler)."""
    messages = []
    for dataset, entry in datasets.items():
        if not os.path.exists(layout.summary(dataset)):
            continue
        try:
            messages.append(write_dataset_report(layout, dataset, entry, provisional=True))
        except Exception as exc:  # the handler must not mask the run's own error
            messages.append(f"dipbatch: could not write {report_path(layout, dataset)}: {exc}")
    return messages
