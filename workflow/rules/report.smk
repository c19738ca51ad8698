# One HTML quality report per dataset: results/<dataset>/report.html (dipbatch.report).
#
# Like the summary, the report is built from the files on disk, so the Snakefile's onerror: handler
# writes it too when some images failed under --keep-going and this rule cannot run; it then lists
# the failures with their error line and log.

import os
from pathlib import Path

from dipbatch.report.collect import Locations


def report_path(dataset):
    return f"{LAYOUT.results}/{dataset}/report.html"


def report_targets():
    return [report_path(dataset) for dataset in DATASETS]


def report_locations(dataset):
    entry = DATASETS[dataset]
    return Locations(
        results=Path(LAYOUT.results) / dataset,
        inputs=Path(entry["input"]),
        reference=Path(entry["reference"]) if "reference" in entry else None,
        logs=Path(LAYOUT.logs),
    )


def write_dataset_report(dataset, provisional=False):
    """Write the dataset's report; a provisional one (after a failed run) gets a modification time
    near the epoch, so that the rule rebuilds it once every image has succeeded. (Not 0: Snakemake
    takes an output time of 0 for "unknown" and then never compares it with the inputs.)"""
    from dipbatch.report.build import write_report  # matplotlib and torch: only when a report is due

    target = report_path(dataset)
    views = write_report(report_locations(dataset), Path(target), config=DATASETS[dataset])
    if provisional:
        os.utime(target, (1, 1))
    return f"dipbatch: {target}: {len(views)} images"


def write_reports_after_error():
    """Reports for every dataset with a summary, from the onerror: handler; never raises."""
    messages = []
    for dataset in DATASETS:
        if not os.path.exists(LAYOUT.summary(dataset)):
            continue
        try:
            messages.append(write_dataset_report(dataset, provisional=True))
        except Exception as exc:  # the handler must not mask the run's own error
            messages.append(f"dipbatch: could not write {report_path(dataset)}: {exc}")
    return messages


rule report:
    input:
        LAYOUT.summary("{dataset}"),
    output:
        report(
            report_path("{dataset}"),
            caption="../report/quality_report.rst",
            category="Quality reports",
            labels={"dataset": "{dataset}"},
        ),
    log:
        f"{LAYOUT.logs}/{{dataset}}/report.log",
    localrule: True
    run:
        message = write_dataset_report(wildcards.dataset)
        with open(log[0], "w", encoding="utf-8") as fh:
            print(message, file=fh)
