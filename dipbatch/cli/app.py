"""The `dipbatch` group and its `presets` command; each other command has its own module."""

from __future__ import annotations

import json
import shutil

import click
from rich import box
from rich.console import Console
from rich.table import Table

from dipbatch import __version__
from dipbatch.cli.plan import plan
from dipbatch.cli.profile import profile
from dipbatch.cli.report import report
from dipbatch.cli.restore import restore
from dipbatch.cli.temporal import extract_frames, temporal
from dipbatch.nets import NetSpec
from dipbatch.tasks import TASKS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dipbatch")
def main() -> None:
    """Restore images with the Deep Image Prior: no training data, no downloaded weights.

    Each image gets its own randomly initialised generator, fitted to the corrupted image and
    stopped before it fits the corruption. Exit codes: 0 success, 1 a data error (a bad file,
    mask or value), 2 a usage error, 3 (restore --strict) outputs written with warnings.
    """


def _channels(net: NetSpec) -> str:
    """A net's widths in a table cell: 128×5, or 8,16,32,64,128 when they differ per scale."""
    widths = net.decoder_channels if net.kind == "deep-decoder" else net.channels_down
    return f"{widths[0]}×{len(widths)}" if len(set(widths)) == 1 else ",".join(map(str, widths))


@main.command(short_help="The presets: network and fit recipe per task.")
@click.option("--task", type=click.Choice(TASKS), help="Only this task's presets.")
@click.option("--json", "as_json", is_flag=True, help="Print every field as JSON (for programs).")
def presets(task: str | None, as_json: bool) -> None:
    """Print the presets: the network and fit recipe per task."""
    from dipbatch.fit.presets import DEVICE_PRESETS, PRESETS

    chosen = {t: by_name for t, by_name in PRESETS.items() if task in (None, t)}
    if as_json:
        click.echo(json.dumps({t: {n: p.to_dict() for n, p in by_name.items()}
                               for t, by_name in chosen.items()}, indent=2))
        return
    table = Table("task", "preset", "net", "channels", "iterations", "lr", "reg. noise", "EMA", "input",
                  box=box.SIMPLE_HEAD)
    for t, by_name in chosen.items():
        for name, p in by_name.items():
            table.add_row(t, name, p.net.kind, _channels(p.net), str(p.fit.iterations), f"{p.fit.lr:g}",
                          f"{p.fit.reg_noise_std:.3g}", "-" if p.fit.ema is None else f"{p.fit.ema:g}",
                          p.fit.input)
    Console(width=max(100, shutil.get_terminal_size().columns)).print(table)
    click.echo("--preset auto (the default): "
               + ", ".join(f"{name} on {kind.upper()}" for kind, name in DEVICE_PRESETS.items())
               + ". --json prints every field; --net and --factor vary some of them (docs/tasks.md).")


main.add_command(restore)
main.add_command(report)
main.add_command(temporal)
main.add_command(extract_frames)
main.add_command(profile)
main.add_command(plan)
