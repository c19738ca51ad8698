"""The `dipbatch temporal` and `dipbatch extract-frames` commands."""

from __future__ import annotations

from pathlib import Path

import click

from dipbatch.cli.errors import guarded
from dipbatch.run.device import DEVICES
from dipbatch.temporal import DEFAULT_METHOD, METHODS
from dipbatch.temporal.dvp import DVPOptions
from dipbatch.temporal.run import TemporalOptions


@click.command(short_help="Make a restored sequence temporally consistent.")
@click.argument("sequence", type=click.Path(path_type=Path))
@click.argument("restored", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Folder for the consistent frames (named like the restored ones), temporal.tsv, "
                   "temporal.json and temporal.svg; for a video input, the re-encoded video too.")
@click.option("--method", default=DEFAULT_METHOD, show_default=True, type=click.Choice(METHODS),
              help="dvp: a Deep Video Prior pass (one small net per sequence); flow: blend each frame "
                   "with its neighbours warped by DIS optical flow (cheap); none: measure only.")
@click.option("--epochs", type=click.IntRange(min=1),
              help=f"DVP: passes over the frames before it stops (default: about {DVPOptions.STEPS} "
                   f"steps, at least {DVPOptions.MIN_EPOCHS} passes).")
@click.option("--lr", default=DVPOptions.lr, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="DVP: Adam step size.")
@click.option("--features", default=DVPOptions.features, show_default=True, type=click.IntRange(min=1),
              help="DVP: channels of the net at full resolution.")
@click.option("--seed", default=DVPOptions.seed, show_default=True, type=int,
              help="DVP: seed of the net's random weights.")
@click.option("--irt", is_flag=True,
              help="DVP: iteratively reweighted training (two heads, the paper's IRT variant), for "
                   "per-frame results that disagree in more than one way (multimodal inconsistency).")
@click.option("--radius", default=TemporalOptions.radius, show_default=True, type=click.IntRange(min=1),
              help="flow: neighbours blended on each side of a frame.")
@click.option("--tolerance", default=TemporalOptions.tolerance, show_default=True,
              type=click.FloatRange(min=0),
              help="flow: a warped neighbour's pixel is used only if it differs by at most this much "
                   "(on the [0,1] scale).")
@click.option("--fallback", is_flag=True,
              help="If the pass raises the warping error or the flicker of the sequence, write the "
                   "per-frame frames instead (the pass is flagged either way).")
@click.option("--fidelity-guard/--no-fidelity-guard", default=True, show_default=True,
              help="Weaken the pass (or keep the per-frame frames) where it would move the frames "
                   "further from the noisy input than the noise explains: the data-fit against the "
                   "noise floor, for results of the input's size (denoising, deblocking).")
@click.option("--device", default="auto", show_default=True, type=click.Choice(DEVICES),
              help="Where the DVP net runs; auto picks CUDA when available.")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads for torch (default: torch's).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@click.option("--quiet", is_flag=True, help="No progress line per epoch.")
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
def temporal(sequence: Path, restored: Path, output: Path, method: str, epochs: int | None, lr: float,
             features: int, seed: int, irt: bool, radius: int, tolerance: float, fallback: bool,
             fidelity_guard: bool, device: str, threads: int | None, overwrite: bool, quiet: bool,
             debug: bool) -> None:
    """Make the per-frame results in RESTORED temporally consistent.

    SEQUENCE is the folder of input frames (natural order: frame_2 before frame_10) or the input
    video; RESTORED holds one restored frame per input frame, under the same name (frame_000001.png,
    ... for a video, as extract-frames names them). Warping error and flicker are measured for the
    input, the per-frame results and the consistent result. Inputs are never modified.
    """
    import torch

    from dipbatch.temporal.run import run_temporal

    if threads:
        torch.set_num_threads(threads)
    options = TemporalOptions(method=method, dvp=DVPOptions(epochs, lr, features, seed, irt), radius=radius,
                              tolerance=tolerance, device=device, overwrite=overwrite, fallback=fallback,
                              fidelity_guard=fidelity_guard)

    def progress(epoch: int, epochs: int, loss: float) -> None:
        if not quiet:
            click.echo(f"{sequence.name}: epoch {epoch}/{epochs}, L1 {loss:.4g}", err=True)

    report = guarded(str(sequence), debug, lambda: run_temporal(sequence, restored, output, options,
                                                                progress))
    for warning in report.warnings:
        click.echo(f"warning: {sequence}: {warning}", err=True)
    figures = report.figures()
    click.echo(f"{sequence.name}: {figures['frames']} frames; warping error input "
               f"{figures['warp_error_input']:.3g}, per-frame {figures['warp_error_frames']:.3g}, "
               f"consistent {figures['warp_error_consistent']:.3g}")


@click.command("extract-frames", short_help="Decode a video into numbered PNG frames.")
@click.argument("video", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Folder for the frames, frame_000001.png, ... (8-bit RGB PNG).")
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
def extract_frames(video: Path, output: Path, debug: bool) -> None:
    """Decode every frame of VIDEO (needs the `video` extra: pip install 'dipbatch[video]').

    The folder appears whole or not at all: a video that cannot be decoded to its end gives an
    error and no frames.
    """
    from dipbatch.temporal.video import extract

    count = guarded(str(video), debug, lambda: extract(video, output))
    click.echo(f"{video}: {count} frames")
