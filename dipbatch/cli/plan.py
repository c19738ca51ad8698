"""`dipbatch plan`: what the workflow's configuration will cost, before it is submitted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.table import Table

from dipbatch.cli.errors import guarded, message
from dipbatch.cli.profile import placeholder_notes
from dipbatch.errors import FieldError
from dipbatch.run.device import DEVICES
from dipbatch.run.progress import duration


def _preset(preset: str, ensemble: int) -> str:
    return f"{preset} ×{ensemble}" if ensemble > 1 else preset


def _typical(seconds: float | None) -> str:
    return "-" if seconds is None else duration(seconds)


def print_plan(plan) -> None:  # dipbatch.workflow.plan.Plan (imported lazily: it imports torch)
    table = Table("dataset", "images", "MP", "task", "preset", "median size", "cap", "per image",
                  "total (cap)", "typical", "GPU-h (cap)", box=box.SIMPLE_HEAD)
    for d in plan.datasets:
        size = "-" if d.median_size is None else "×".join(map(str, reversed(d.median_size)))
        table.add_row(d.dataset, str(d.images), f"{d.megapixels:.2f}", d.task, _preset(d.preset, d.ensemble),
                      size, str(d.cap), duration(d.per_image_s), duration(d.total_s),
                      _typical(d.typical_total_s), f"{d.gpu_hours:.2f}")
    Console(width=max(140, shutil.get_terminal_size().columns)).print(table)
    totals = plan.totals
    click.echo(f"total: {totals['images']} images, {totals['megapixels']:.2f} MP, "
               f"{duration(totals['total_s'])} of fits to the caps ({totals['gpu_hours']:.2f} GPU-hours), "
               f"typically {duration(totals['typical_total_s'])}")
    from dipbatch.workflow.plan import caveats

    for line in caveats(plan):
        click.echo(f"note: {line}")


def checked_config(configfiles: tuple[Path, ...]) -> dict:
    """The run's configuration as the workflow reads it, with every dataset's `options:` checked as
    the workflow checks them before any job (dipbatch.cli.checks)."""
    from dipbatch.cli.checks import check_dataset_options
    from dipbatch.workflow.config import read_config

    config = read_config(configfiles)
    for name, dataset in config["datasets"].items():
        check_dataset_options(name, dataset, config["device"])
    return config


@click.command(short_help="Images, time and GPU-hours the workflow will take.")
@click.option("--configfile", "configfiles", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A config file over config.yaml, as snakemake --configfile takes it (repeatable); one "
                   "that names datasets replaces config.yaml's datasets.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="Where to time the steps: auto takes this machine's GPU if it has one.")
@click.option("--steps", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed steps per net and size (after one warm-up step).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (for programs).")
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
def plan(configfiles: tuple[Path, ...], device: str, steps: int, as_json: bool, debug: bool) -> None:
    """Print what the workflow's configuration will restore and how long it will take, per dataset:
    images, megapixels, preset, and the fit time and GPU-hours estimated from a few timed steps of
    each dataset's net at its median image size. Run it where the workflow runs (config.yaml's folder).
    """
    from dipbatch.run.device import resolve_device
    from dipbatch.workflow.plan import make_plan

    try:
        where = resolve_device(device)
    except FieldError as exc:
        raise click.UsageError(message(exc)) from None
    result = guarded("plan", debug, lambda: make_plan(checked_config(configfiles), where, steps))
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        print_plan(result)
        for note in placeholder_notes():
            click.echo(f"note: {note}")
