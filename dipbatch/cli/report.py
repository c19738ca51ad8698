"""`dipbatch report RESULTS_DIR -o report.html`: the quality report of one dataset's results."""

from __future__ import annotations

from pathlib import Path

import click

from dipbatch.cli.errors import guarded
from dipbatch.io.results import REPORT


@click.command(short_help="Write the HTML quality report of a dataset.")
@click.argument("results", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="The HTML file to write (default: RESULTS/report.html).")
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="The workflow's config.yaml: the report shows the dataset's entry (the dataset is "
                   "RESULTS's folder name) and takes its input, reference and logs folders from it.")
@click.option("--reference", type=click.Path(path_type=Path),
              help="Folder of clean originals with the inputs' relative paths: adds PSNR and SSIM.")
@click.option("--logs", type=click.Path(path_type=Path),
              help="The workflow's logs folder, to name each failed job's log.")
@click.option("--beside/--inline", default=None,
              help="Put the pictures in a folder REPORT_files/ beside the report, or inside it "
                   "(default: inside, unless the dataset has more than 500 images).")
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
def report(results: Path, output: Path | None, config_file: Path | None, reference: Path | None,
           logs: Path | None, beside: bool | None, debug: bool) -> None:
    """Write the HTML quality report of RESULTS, one dataset's results folder (with its summary.tsv).

    The report needs no network: pictures are inline (or beside it), and it opens in any browser.
    Inputs are found through their sidecars, or through --config.
    """
    from dataclasses import replace

    from dipbatch.errors import DipbatchError
    from dipbatch.report.build import write_report
    from dipbatch.report.collect import Locations
    from dipbatch.workflow.pages import dataset_config, image_logs

    def run() -> int:
        config, locations = (dataset_config(config_file, results) if config_file
                             else (None, Locations(results=results)))
        for name, folder in (("--reference", reference), ("--logs", logs)):
            if folder is not None and not folder.is_dir():
                raise DipbatchError(folder, f"{name}: is not a folder")
        locations = replace(locations, reference=reference or locations.reference,
                            log_of=image_logs(results, logs) if logs else locations.log_of)
        views = write_report(locations, output or results / REPORT, config=config, beside=beside)
        return len(views)

    count = guarded(str(results), debug, run)
    click.echo(f"{output or results / REPORT}: {count} images", err=True)
