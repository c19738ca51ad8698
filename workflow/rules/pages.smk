# One HTML quality report per dataset: results/<dataset>/report.html (dipbatch.report, with
# dipbatch.workflow.pages for the dataset's locations).
#
# Like the summary, the report is built from the files on disk, so the Snakefile's onerror: handler
# writes it too (reports_after_error) when some images failed under --keep-going and this rule
# cannot run; it then lists the failures with their error line and log.

from pathlib import Path

from dipbatch.workflow.pages import (
    index_after_error,
    report_targets,
    reports_after_error,
    write_dataset_report,
    write_index,
)


rule report:
    input:
        # For a kind: sequence dataset the summary comes after the temporal table, so the report's
        # temporal section (temporal.tsv and each sequence's plot) is always the latest.
        LAYOUT.summary("{dataset}"),
    output:
        report(
            LAYOUT.report("{dataset}"),
            caption="../report/quality_report.rst",
            category="Quality reports",
            labels={"dataset": "{dataset}"},
        ),
    log:
        LAYOUT.report_log("{dataset}"),
    localrule: True
    run:
        write_dataset_report(
            LAYOUT,
            wildcards.dataset,
            DATASETS[wildcards.dataset],
            log=log[0],
            warnings=WARNINGS[wildcards.dataset],
        )


# results/index.html: every dataset with its counts and a link to its report (after a failed run,
# the onerror: handler writes it).
rule index:
    input:
        [LAYOUT.report(dataset) for dataset in DATASETS],
    output:
        LAYOUT.index(),
    log:
        LAYOUT.index_log(),
    localrule: True
    run:
        Path(log[0]).write_text(write_index(LAYOUT, IMAGES) + "\n", encoding="utf-8")
