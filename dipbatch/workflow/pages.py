"""The workflow's side of the reports: where a dataset's files are (from the workflow config and
the layout), and writing its report from the `report` rule or, after failed jobs, from the
Snakefile's ``onerror:`` handler.

Imported by ``workflow/rules/pages.smk`` at parse time, so the heavy imports (matplotlib, torch)
wait until a report is written.
"""

from __future__ import annotations

import contextlib
import html
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from dipbatch.errors import DipbatchError
from dipbatch.io.atomic import write_bytes_atomic
from dipbatch.io.results import STATUS_INTERRUPTED, STATUSES
from dipbatch.report.collect import Locations
from dipbatch.workflow.layout import Layout
from dipbatch.workflow.provisional import date_before_inputs
from dipbatch.workflow.summary import dataset_rows


def report_targets(layout: Layout, datasets: Mapping[str, Any]) -> list[str]:
    """Every dataset's report, and the index page that links them."""
    return [*(layout.report(dataset) for dataset in datasets), layout.index()]


def write_index(layout: Layout, images: Mapping[str, Sequence[str]]) -> str:
    """results/index.html: one row per dataset, its counts and a link to its report (atomically)."""
    head = "".join(f"<th>{s}</th>" for s in (*STATUSES, "with warnings"))
    rows = []
    for dataset, rels in images.items():
        table = dataset_rows(layout, dataset, rels)
        cells = [sum(r.get("status") == s for r in table) for s in STATUSES]
        cells.append(sum(bool(r.get("warnings")) for r in table))
        href = quote(os.path.relpath(layout.report(dataset), layout.results))
        link = (f'<a href="{href}">{html.escape(dataset)}</a>' if os.path.exists(layout.report(dataset))
                else f"{html.escape(dataset)} (no report yet)")
        rows.append(f"<tr><td>{link}</td><td>{len(table)}</td>"
                    + "".join(f"<td>{n}</td>" for n in cells) + "</tr>")
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>dipbatch: every dataset</title></head><body>\n<h1>dipbatch: every dataset</h1>\n"
            f"<table id=\"datasets\"><thead><tr><th>dataset</th><th>images</th>{head}</tr></thead>"
            f"<tbody>\n{chr(10).join(rows)}\n</tbody></table>\n</body></html>\n")
    Path(layout.results).mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(layout.index(), page.encode())
    return f"dipbatch: {layout.index()}: {len(rows)} datasets"


def image_logs(results: Path, logs: Path | None) -> Callable[[str], Path] | None:
    """Where the layout puts each image's log, for the dataset whose results are in `results`."""
    if logs is None:
        return None
    layout, dataset = Layout(results=str(results.parent), logs=str(logs)), results.resolve().name
    return lambda image: Path(layout.log(dataset, image))


def dataset_locations(layout: Layout, dataset: str, entry: Mapping[str, Any]) -> Locations:
    """Where a dataset's files are, from its (validated) entry of the workflow config."""
    results = Path(layout.dataset(dataset))
    return Locations(
        results=results,
        inputs=Path(entry["input"]),
        reference=Path(entry["reference"]) if entry.get("reference") else None,
        log_of=image_logs(results, Path(layout.logs)),
    )


def dataset_config(config_file: Path, results: Path) -> tuple[dict[str, Any], Locations]:
    """The entry of a workflow config.yaml for the dataset whose results are in `results`, and the
    locations it names. Relative paths in the config start at the config file's folder."""
    dataset = results.resolve().name
    try:
        config = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DipbatchError(config_file, f"cannot read the workflow config ({exc})") from None
    datasets = config.get("datasets") if isinstance(config, dict) else None
    if not isinstance(datasets, dict) or not isinstance(datasets.get(dataset), dict):
        raise DipbatchError(config_file, f"has no dataset '{dataset}' under datasets:")
    entry = datasets[dataset]
    base = config_file.parent

    def folder(value: Any) -> Path | None:
        return base / value if isinstance(value, str) else None

    locations = Locations(results=results, inputs=folder(entry.get("input")),
                          reference=folder(entry.get("reference")),
                          log_of=image_logs(results, folder(config.get("logs", "logs"))))
    return entry, locations


def write_dataset_report(layout: Layout, dataset: str, entry: Mapping[str, Any],
                         provisional: bool = False, log: str | None = None,
                         warnings: Sequence[str] = ()) -> str:
    """Write the dataset's report, with the workflow's `warnings` about it; return a one-line
    message, also written to `log` if given.

    A provisional report (after a failed run) is dated before its summary, so that the rule
    rebuilds it on the next run.
    """
    from dipbatch.report.build import write_report

    target = layout.report(dataset)
    try:
        views = write_report(dataset_locations(layout, dataset, entry), Path(target),
                             config=dict(entry), warnings=warnings)
    except BaseException:
        # An older report must not go on claiming what this run could not confirm (a full disk).
        with contextlib.suppress(FileNotFoundError):
            os.remove(target)
        raise
    if provisional:
        date_before_inputs(target, [layout.summary(dataset)])
    message = f"dipbatch: {target}: {len(views)} images"
    if log:
        Path(log).write_text(message + "\n", encoding="utf-8")
    return message


def reports_after_error(layout: Layout, datasets: Mapping[str, Mapping[str, Any]],
                        warnings: Mapping[str, Sequence[str]], resume: str = "") -> list[str]:
    """Provisional reports for every dataset that has a summary, with the workflow's warnings
    about each and, when some of its jobs were interrupted, the command that resumes them; never
    raises (onerror: handler)."""
    messages = []
    for dataset, entry in datasets.items():
        if not os.path.exists(layout.summary(dataset)):
            continue
        notes = list(warnings.get(dataset, ()))
        interrupted = sum(r.get("status") == STATUS_INTERRUPTED for r in dataset_rows(layout, dataset, ()))
        if interrupted:
            notes.append(f"{interrupted} images were interrupted: run the same command again to "
                         f"resume them: {resume}")
        try:
            messages.append(write_dataset_report(layout, dataset, entry, provisional=True,
                                                 warnings=notes))
        except Exception as exc:  # the handler must not mask the run's own error
            messages.append(f"dipbatch: could not write {layout.report(dataset)}: {exc}")
    return messages


def index_after_error(layout: Layout, images: Mapping[str, Sequence[str]]) -> list[str]:
    """The index page after a failed run, dated before its newest report so that the rule rewrites
    it on the next run; never raises (onerror: handler)."""
    try:
        message = write_index(layout, images)
        date_before_inputs(layout.index(), [layout.report(dataset) for dataset in images])
    except Exception as exc:  # the handler must not mask the run's own error
        return [f"dipbatch: could not write {layout.index()}: {exc}"]
    return [message]
