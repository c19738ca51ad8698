"""`dipbatch restore`: parse the files and options, call the library, print a line per image."""

from __future__ import annotations

import os
import shlex
import signal
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import click

from dipbatch.astro import AstroOptions
from dipbatch.cli.errors import EXIT_DATA_ERROR, EXIT_WARNINGS, flag, guarded, message
from dipbatch.cli.help import PanelCommand, panel
from dipbatch.cli.options import (
    astro_options,
    declip_option,
    dip_sure_option,
    ensemble_option,
    fusion_options,
    speed_options,
    stop_options,
    take,
    task_option,
    task_options,
    tiling_options,
    warm_start_options,
)
from dipbatch.errors import DipbatchError, FieldError, spell_fields
from dipbatch.fit import interrupt
from dipbatch.fit.fusion import FusionOptions
from dipbatch.fit.interrupt import Interrupted
from dipbatch.fit.presets import PRESET_CHOICES
from dipbatch.fit.speed import SpeedOptions
from dipbatch.fit.stopping import StopOptions
from dipbatch.fit.tiling import TilingOptions
from dipbatch.fit.warmstart import WarmStartOptions
from dipbatch.io.discovery import discover
from dipbatch.io.images import DEFAULT_MAX_PIXELS
from dipbatch.io.results import INTERRUPTED_MARK, write_outcomes
from dipbatch.run.device import DEVICES
from dipbatch.run.doubts import result_warnings
from dipbatch.run.progress import duration
from dipbatch.run.restore import Outcome, RestoreOptions
from dipbatch.tasks import TaskOptions


def _expand(inputs: tuple[Path, ...], patterns: tuple[str, ...]) -> list[tuple[Path, str]]:
    """Each input file with the name its output takes in an output folder: a file keeps its name; a
    folder gives its images (recursively, those matching --pattern), named by their path inside it."""
    if patterns and not any(i.is_dir() for i in inputs):
        raise click.UsageError("--pattern selects files in a folder input; no input is a folder")
    files: list[tuple[Path, str]] = []
    for given in inputs:
        if not given.is_dir():
            files.append((given, given.name))
            continue
        found = discover(given, patterns or None)
        if not found:
            wanted = " ".join(patterns) if patterns else "a readable image suffix"
            raise DipbatchError(given, f"is a folder with no file matching {wanted}")
        files += [(given / rel, rel) for rel in found]
    return files


def _output_pairs(files: list[tuple[Path, str]], outputs: tuple[str, ...],
                  folder_input: bool) -> list[tuple[Path, Path]]:
    """One -o per input: pairs in order. One -o: the file for one input file; else (several inputs,
    a folder input, or an -o that is a folder or ends in /) a folder, created if missing, of outputs
    named like their inputs."""
    if len(outputs) > 1:
        if folder_input or len(outputs) != len(files):
            raise click.UsageError(
                f"{len(outputs)} outputs for {'a folder' if folder_input else len(files)} inputs: give "
                "one -o (a file, or a folder for several inputs) or one per input file")
        if len(set(outputs)) < len(outputs):
            raise click.UsageError("the same -o is given twice")
        return [(i, Path(o)) for (i, _), o in zip(files, outputs, strict=True)]
    output = Path(outputs[0])
    folder = folder_input or len(files) > 1 or output.is_dir() or outputs[0].endswith(("/", "\\"))
    if not folder:
        return [(files[0][0], output)]
    names = [name for _, name in files]
    clash = {n for n in names if names.count(n) > 1}
    if clash:
        raise DipbatchError(output, f"several inputs share the name {sorted(clash)[0]}; "
                                    "restore them into different folders or give one -o per input")
    for name in names:
        (output / name).parent.mkdir(parents=True, exist_ok=True)
    return [(i, output / name) for i, name in files]


def _done_line(outcome: Outcome) -> str:
    """The last line of a job's log for one image: the output, where and why it stopped, the time."""
    if outcome.error is not None:
        return f"error: {message(outcome.error)}"
    record = outcome.record
    assert record is not None
    return (f"done: {outcome.output}: stopped at iteration {record['stop_iteration']} "
            f"({record['stop_reason']}), {record['iterations']} run, {duration(record['wall_time_s'])}")


def _warnings(outcome: Outcome) -> list[str]:
    """The doubts about a written output (`result_warnings`), none for a failed one."""
    return result_warnings(outcome.record) if outcome.error is None and outcome.record else []


def _closing_line(outcomes: list[Outcome]) -> str:
    """`n ok, n with warnings, n failed; outputs in FOLDER` (no warnings: not said), for a run of
    several inputs."""
    failed = sum(o.error is not None for o in outcomes)
    warned = sum(bool(_warnings(o)) for o in outcomes)
    counts = f"{len(outcomes) - failed - warned} ok, " + (f"{warned} with warnings, " if warned else "")
    folders = [o.output.parent for o in outcomes if o.error is None]
    if not folders:
        return f"{counts}{failed} failed"
    try:
        common = os.path.commonpath(folders)
    except ValueError:  # relative and absolute folders
        common = os.path.commonpath([f.resolve() for f in folders])
    return f"{counts}{failed} failed; outputs in {common}"


def _interrupted_line(stop: Interrupted) -> str:
    """The `interrupted:` line: which images, where the fit stood, and the command that resumes it."""
    images = ", ".join(str(i) for i in stop.images) or "before the first fit"
    if stop.iteration:
        saved = f"checkpoint saved at iteration {stop.iteration}"
    else:
        saved = "each worker saves its fit's checkpoint" if stop.in_workers else "no fit running"
    command = shlex.join(["dipbatch", *sys.argv[1:]])
    return f"{INTERRUPTED_MARK} {images} ({signal.Signals(stop.signum).name}; {saved}); " \
           f"rerun the same command to resume: {command}"


#: `restore --help`'s closing examples (\b keeps click from rewrapping them).
EXAMPLES = """\b
Examples:
  dipbatch restore noisy.tif -o clean.tif               # automatic stop, fused with NL-means
  dipbatch restore archive/ -o restored/ --pattern '*.png'
  dipbatch restore scan.png -o big.png --task sr --factor 4
  dipbatch restore frame.fits -o out.fits --noise poisson --stretch asinh
  dipbatch restore hole.png -o filled.png --task inpaint --mask hole_mask.png
"""


@click.command(cls=PanelCommand, short_help="Restore images or folders of them (the main job).",
               epilog=EXAMPLES)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@panel(
    "Common options",
    click.option("-o", "--output", "outputs", required=True, multiple=True, type=click.Path(),
                 help="Output file; with several inputs or a folder, an output folder (created if "
                      "missing; a trailing / makes one for one input too) or one -o per input, in "
                      "order. The format follows the suffix. A JSON sidecar OUTPUT.json is written "
                      "beside each output."),
    click.option("--pattern", "patterns", multiple=True,
                 help="Folder inputs: restore the files matching this glob (case-insensitive; on "
                      "the path inside the folder when it holds a /; repeatable). Default: every "
                      "readable image suffix, in every subfolder."),
    task_option,
    click.option("--preset", default="auto", show_default=True, type=click.Choice(PRESET_CHOICES),
                 help="auto: fast on a CPU, paper on a GPU (the quality-per-second frontier); "
                      "paper: the paper's recipe; fast: a 32-channel net, as good at 128-256 px "
                      "for a seventh of the CPU time; tiny: for tests. `dipbatch presets` lists them."),
    click.option("--device", default="auto", show_default=True, type=click.Choice(DEVICES),
                 help="auto picks CUDA when available."),
    click.option("--iterations", type=click.IntRange(min=1), help="Iteration budget (overrides the preset)."),
    click.option("--seed", default=0, show_default=True, type=int,
                 help="Seed of the net's weights, its input and the regularising noise; the same "
                      "seed gives a bit-identical result on the same machine."),
    ensemble_option,
    dip_sure_option,
    declip_option,
    click.option("--overwrite", is_flag=True, help="Replace an existing output."),
    click.option("--quiet", is_flag=True, help="No progress (bar or lines)."),
)
@task_options
@stop_options
@fusion_options
@speed_options
@astro_options
@tiling_options
@warm_start_options
@panel(
    "Output and runs",
    click.option("--output-dtype", type=click.Choice(["uint8", "uint16", "float32"]),
                 help="Sample type of the output (default: the input's)."),
    click.option("--checkpoint-every", default=500, show_default=True, type=click.IntRange(min=0),
                 help="Save the fit state every N iterations (0: only when interrupted); a rerun "
                      "resumes from it. SIGINT or SIGTERM (a SLURM time limit) saves it too."),
    click.option("--max-pixels", default=DEFAULT_MAX_PIXELS, show_default=True, type=click.IntRange(min=1),
                 help="Refuse an input with more pixels (height × width, × planes), read from its "
                      "header before decoding: guards against decompression bombs."),
    click.option("--input-folder", "input_folders", multiple=True, type=click.Path(path_type=Path),
                 help="A folder the inputs come from (repeatable); an output inside it is refused. "
                      "The workflow passes each dataset's input folder; a folder input counts as one."),
    click.option("--outcomes", type=click.Path(dir_okay=False, path_type=Path),
                 help="Also write each input's outcome (ok or failed, with its done: or error: line) "
                      "to this JSON file, for scripts (the workflow's packed jobs read it)."),
    click.option("--strict", is_flag=True,
                 help="Exit 3 when an output was written with a warning (it ran to its cap, its data-fit "
                      "ended far above the noise floor, ...), for scripts; the outputs stay."),
    click.option("--debug", is_flag=True, help="Show the full traceback on errors."),
)
def restore(inputs: tuple[Path, ...], outputs: tuple[str, ...], patterns: tuple[str, ...],
            threads: int | None, jobs: int | None, input_folders: tuple[Path, ...], outcomes: Path | None,
            strict: bool, debug: bool, **params: Any) -> None:
    """Restore INPUTS (PNG, JPEG, TIFF, FITS files, or folders of them) into OUTPUT.

    Every input is checked before the first fit. Several inputs each get their own net and early
    stop: on a CPU in worker processes (--jobs), on a GPU as one batched computation per size. The
    inputs are never modified; outputs are written atomically. Each output gets a `done:` line, and
    a `warning:` line for each doubt about it; several inputs end with `N ok, N with warnings,
    N failed; outputs in FOLDER`. On SIGINT or SIGTERM the fit
    saves its checkpoint, prints an `interrupted:` line and exits 130 or 143; the same command
    resumes it.
    """
    from dipbatch.run.pool import restore_with_jobs
    from dipbatch.run.restore import check_apart_from_inputs

    options = restore_options(params, input_folders=input_folders, debug=debug)
    where = str(inputs[0])
    files = guarded(where, debug, lambda: _expand(inputs, patterns))
    folder_inputs = tuple(i for i in inputs if i.is_dir())
    for output in outputs:  # before _output_pairs creates an output folder
        guarded(where, debug, partial(check_apart_from_inputs, Path(output), [f for f, _ in files],
                                      input_folders + folder_inputs))
    pairs = guarded(where, debug, lambda: _output_pairs(files, outputs, bool(folder_inputs)))

    def report(outcome: Outcome) -> None:
        click.echo(_done_line(outcome), err=True)
        for warning in _warnings(outcome):
            click.echo(f"warning: {outcome.output}: {warning}", err=True)

    try:
        with interrupt.handled():
            done = guarded(where, debug, lambda: _usage_errors(debug, lambda: restore_with_jobs(
                pairs, options, jobs, threads, lambda line: click.echo(spell_fields(line, flag), err=True),
                report)))
    except Interrupted as stop:
        click.echo(_interrupted_line(stop), err=True)
        sys.exit(stop.exit_code)
    if outcomes is not None:
        guarded(str(outcomes), debug, lambda: write_outcomes(outcomes, [
            {"input": str(o.input), "output": str(o.output), "status": "failed" if o.error else "ok",
             "line": _done_line(o)} for o in done]))
    if len(done) > 1:
        click.echo(_closing_line(done), err=True)
    if any(o.error for o in done):
        sys.exit(EXIT_DATA_ERROR)
    if strict and any(_warnings(o) for o in done):
        sys.exit(EXIT_WARNINGS)


def restore_options(params: dict[str, Any], **fields: Any) -> RestoreOptions:
    """The library's options from `restore`'s parameters (those that are no files, threads or jobs):
    each group's fields into its dataclass, the rest into RestoreOptions itself."""
    groups = dict(params)
    quiet = groups.pop("quiet")
    return RestoreOptions(task=take(TaskOptions, groups), stop=take(StopOptions, groups),
                          speed=take(SpeedOptions, groups), astro=take(AstroOptions, groups),
                          tiling=take(TilingOptions, groups), warm=take(WarmStartOptions, groups),
                          fusion=take(FusionOptions, groups),
                          show_progress=not quiet, **groups, **fields)


def _usage_errors(debug: bool, action: Callable[[], Any]) -> Any:
    """Run `action`; a bad option value or combination it refuses (a FieldError that no one file
    caused) is a usage error: exit 2."""
    try:
        return action()
    except FieldError as exc:
        if debug or exc.in_file:  # a bad file given through an option: a data error
            raise
        raise click.UsageError(message(exc)) from None
