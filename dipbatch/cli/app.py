"""The `dipbatch` group, and its `restore` and `presets` commands: parse options, call the library."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from dipbatch import __version__
from dipbatch.astro import AstroOptions
from dipbatch.cli.errors import EXIT_DATA_ERROR, guarded, message
from dipbatch.cli.options import (
    astro_options,
    ensemble_option,
    speed_options,
    stop_options,
    take,
    task_options,
    tiling_options,
    warm_start_options,
)
from dipbatch.cli.profile import profile
from dipbatch.cli.report import report
from dipbatch.cli.temporal import extract_frames, temporal
from dipbatch.device import DEVICES
from dipbatch.errors import DipbatchError, FieldError
from dipbatch.imageio import DEFAULT_MAX_PIXELS
from dipbatch.presets import PRESET_NAMES
from dipbatch.speed import SpeedOptions
from dipbatch.stopping import StopOptions
from dipbatch.tasks import TaskOptions
from dipbatch.tiling import TilingOptions
from dipbatch.warmstart import WarmStartOptions


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dipbatch")
def main() -> None:
    """Restore images with the Deep Image Prior: no training data, no downloaded weights.

    Each image gets its own randomly initialised generator, fitted to the corrupted image and
    stopped before it fits the corruption. Exit codes: 0 success, 1 a data error (a bad file,
    mask or value), 2 a usage error.
    """


def _output_pairs(inputs: tuple[Path, ...], outputs: tuple[Path, ...]) -> list[tuple[Path, Path]]:
    """One -o per input: pairs in order. One -o: the file for one input, else a folder of outputs
    named like their inputs."""
    if len(outputs) not in (1, len(inputs)):
        raise click.UsageError(f"{len(outputs)} outputs for {len(inputs)} inputs: give one -o (a file, "
                               "or a folder for several inputs) or one per input")
    if len(outputs) > 1:
        if len(set(outputs)) < len(outputs):
            raise click.UsageError("the same -o is given twice")
        return list(zip(inputs, outputs, strict=True))
    output = outputs[0]
    if len(inputs) == 1 and not (output.is_dir() or str(output).endswith(("/", "\\"))):
        return [(inputs[0], output)]
    output.mkdir(parents=True, exist_ok=True)
    names = [i.name for i in inputs]
    clash = {n for n in names if names.count(n) > 1}
    if clash:
        raise DipbatchError(output, f"several inputs share the name {sorted(clash)[0]}; "
                                    "restore them into different folders or give one -o per input")
    return [(i, output / i.name) for i in inputs]


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "outputs", required=True, multiple=True, type=click.Path(path_type=Path),
              help="Output file; with several inputs, an output folder (created if missing) or one "
                   "-o per input, in order. The format follows the suffix. A JSON sidecar "
                   "OUTPUT.json is written beside each output.")
@task_options
@stop_options
@speed_options
@astro_options
@tiling_options
@warm_start_options
@click.option("--preset", default="paper", show_default=True, type=click.Choice(PRESET_NAMES),
              help="paper: the paper's recipe (3000 iterations); fast: a smaller net for CPUs and "
                   "previews; tiny: for tests.")
@click.option("--iterations", type=click.IntRange(min=1), help="Iteration budget (overrides the preset).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the net's weights, its input and the regularising noise; the same seed "
                   "gives a bit-identical result on the same machine.")
@ensemble_option
@click.option("--device", default="auto", show_default=True, type=click.Choice(DEVICES),
              help="auto picks CUDA when available.")
@click.option("--threads", type=click.IntRange(min=1),
              help="Torch threads per process (default: the usable cores, shared among the jobs).")
@click.option("--jobs", type=click.IntRange(min=1),
              help="Worker processes, one image each at a time (default on a CPU: one per image up to "
                   "the usable cores, or 1 with --threads; on a GPU: 1). Jobs × threads are clamped "
                   "to the usable cores (affinity, SLURM_CPUS_PER_TASK).")
@click.option("--output-dtype", type=click.Choice(["uint8", "uint16", "float32"]),
              help="Sample type of the output (default: the input's).")
@click.option("--checkpoint-every", default=500, show_default=True, type=click.IntRange(min=0),
              help="Save the fit state every N iterations (0: never); a rerun resumes from it.")
@click.option("--max-pixels", default=DEFAULT_MAX_PIXELS, show_default=True, type=click.IntRange(min=1),
              help="Refuse an input with more pixels (height × width, × planes), read from its "
                   "header before decoding: guards against decompression bombs.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("--input-folder", "input_folders", multiple=True, type=click.Path(path_type=Path),
              help="A folder the inputs come from (repeatable); an output inside it is refused. "
                   "The workflow passes each dataset's input folder.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
def restore(inputs: tuple[Path, ...], outputs: tuple[Path, ...], preset: str, iterations: int | None,
            seed: int, ensemble: int, device: str, threads: int | None, jobs: int | None,
            output_dtype: str | None, checkpoint_every: int, max_pixels: int, overwrite: bool,
            input_folders: tuple[Path, ...], quiet: bool, debug: bool,
            **groups: Any) -> None:
    """Restore INPUTS (PNG, JPEG, TIFF, FITS) into OUTPUT.

    Several inputs are fitted together, as one batched computation per image size, each with its
    own net and its own early stop.
    The inputs are never modified; outputs are written atomically.
    """
    from dipbatch.pool import EXIT_INTERRUPTED, restore_with_jobs
    from dipbatch.restore import RestoreOptions, check_apart_from_inputs

    options = RestoreOptions(task=take(TaskOptions, groups), stop=take(StopOptions, groups),
                             speed=take(SpeedOptions, groups), astro=take(AstroOptions, groups),
                             tiling=take(TilingOptions, groups), warm=take(WarmStartOptions, groups),
                             preset=preset, iterations=iterations,
                             seed=seed, ensemble=ensemble, device=device, output_dtype=output_dtype,
                             overwrite=overwrite, input_folders=input_folders, max_pixels=max_pixels,
                             checkpoint_every=checkpoint_every,
                             show_progress=not quiet, debug=debug)
    where = str(inputs[0])
    for output in outputs:  # before _output_pairs creates an output folder
        guarded(where, debug, lambda o=output: check_apart_from_inputs(o, list(inputs), input_folders))
    pairs = guarded(where, debug, lambda: _output_pairs(inputs, outputs))
    try:
        outcomes = guarded(where, debug, lambda: _usage_errors(debug, lambda: restore_with_jobs(
            pairs, options, jobs, threads, lambda line: click.echo(line, err=True))))
    except KeyboardInterrupt:
        click.echo("interrupted: finished outputs are kept, no partial ones", err=True)
        sys.exit(EXIT_INTERRUPTED)
    errors = [message(o.error) for o in outcomes if o.error]
    for line in errors:
        click.echo(f"error: {line}", err=True)
    if errors:
        sys.exit(EXIT_DATA_ERROR)


def _usage_errors(debug: bool, action: Callable[[], Any]) -> Any:
    """Run `action`; a bad option value or combination it refuses (a FieldError that no one file
    caused) is a usage error: exit 2."""
    try:
        return action()
    except FieldError as exc:
        if debug:
            raise
        raise click.UsageError(message(exc)) from None


@main.command()
@click.option("--task", default=None, help="Only this task's presets.")
def presets(task: str | None) -> None:
    """Print the presets (network and fit recipe per task) as JSON."""
    from dipbatch.presets import PRESETS

    table = {t: {n: p.to_dict() for n, p in by_name.items()}
             for t, by_name in PRESETS.items() if task in (None, t)}
    click.echo(json.dumps(table, indent=2))


main.add_command(report)
main.add_command(temporal)
main.add_command(extract_frames)
main.add_command(profile)
