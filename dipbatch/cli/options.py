"""The option groups of `dipbatch restore`: each a set of click options whose parameter names are
the fields of one library options dataclass, and the function that fills the dataclass from them.

The flags are the command's own spelling (--stop, --task); the parameters are the fields'
(`StopOptions.rule`, `TaskOptions.kind`), so the keyword arguments map onto the dataclasses as
they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import click

from dipbatch.astro.stretch import STRETCHES
from dipbatch.cli.help import panel
from dipbatch.fit.declip import DECLIP_MODES
from dipbatch.fit.dipsure import DIP_SURE_MODES
from dipbatch.fit.fusion import FUSION_METHODS
from dipbatch.fit.presets import NETS
from dipbatch.fit.speed import PRECISIONS
from dipbatch.fit.stopping import STOP_RULES
from dipbatch.tasks import DEFAULT_FACTOR, NOISES, TASKS

Options = TypeVar("Options")


def take(cls: type[Options], values: dict[str, Any]) -> Options:
    """The dataclass `cls` filled with its fields taken out of a command's keyword arguments."""
    return cls(**{f.name: values.pop(f.name) for f in fields(cls) if f.name in values})  # type: ignore


_PATH = click.Path(path_type=Path, dir_okay=False)

#: TaskOptions.kind, shown among the common options.
task_option = click.option(
    "--task", "kind", default="denoise", show_default=True, type=click.Choice(TASKS),
    help="What corrupted the image: denoise (noise), sr (low resolution), inpaint (missing pixels), "
         "deblock (JPEG artefacts), flash (a noisy no-flash photo, with --guide the flash photo), "
         "deblur (a known blur, with --psf).")

# The rest of TaskOptions: configure the task.
task_options = panel(
    "Task details",
    click.option("--net", type=click.Choice(NETS),
                 help="The generator (default: the preset's, skip): hourglass is skip without "
                      "skip connections; deep-decoder is Heckel & Hand's (about 100k parameters)."),
    click.option("--factor", type=int,
                 help=f"sr: the upscaling factor, 2, 4 or 8 [default: {DEFAULT_FACTOR}]; the "
                      "output is factor × the input size."),
    click.option("--mask", type=_PATH,
                 help="inpaint: the mask image, the size of the input; white = known pixel, "
                      "black = hole to fill. Default: the input's alpha channel (opaque = known)."),
    click.option("--guide", type=_PATH,
                 help="flash: the flash photo of the same scene, the size of the input."),
    click.option("--psf",
                 help="deblur: the point-spread function, a file (FITS, TIFF, PNG; normalised to sum 1 "
                      "and centred on its centroid) or a model: gaussian:fwhm=3.2, "
                      "moffat:fwhm=3,beta=2.5 or disk:radius=4 (pixels)."),
    click.option("--psf-hdu", help="deblur: the PSF file's FITS HDU, by index or EXTNAME."),
    click.option("--noise", default="gaussian", show_default=True, type=click.Choice(NOISES),
                 help="The data-fit: gaussian (MSE), poisson (photon counts), poisson-gaussian "
                      "(counts plus read noise, via the generalized Anscombe transform)."),
    click.option("--gain", type=float,
                 help="poisson*: electrons per stored unit (e-/ADU) [default: the FITS GAIN or "
                      "EGAIN, else 1]."),
    click.option("--offset", type=float,
                 help="poisson*: the stored value of zero light (bias, pedestal) [default: 0]."),
    click.option("--read-noise", type=float,
                 help="poisson-gaussian: read noise in electrons RMS [default: the FITS RDNOISE, "
                      "READNOIS or RON, else 0]."),
)

# StopOptions: the stopping rule.
stop_options = panel(
    "Stopping",
    click.option("--stop", "rule", default="auto", show_default=True, type=click.Choice(STOP_RULES),
                 help="auto: stop when the data-fit reaches the noise floor (discrepancy "
                      "principle), else at the end of the output's windowed-variance plateau; "
                      "fixed: run exactly --iterations; sure: Gaussian denoising, stop at the "
                      "minimum of a Monte-Carlo SURE estimate of the MSE (twice the compute). "
                      "--iterations is the cap of every rule."),
    click.option("--window", type=click.IntRange(min=2),
                 help="auto: the variance window (default: cap/10, at most 100)."),
    click.option("--patience", type=click.IntRange(min=1),
                 help="auto/sure: stop this many iterations after the minimum (default: cap/6)."),
    click.option("--min-start", type=click.IntRange(min=0),
                 help="auto/sure: accept no minimum before this iteration (default: cap/10)."),
    click.option("--sigma", type=click.FloatRange(min=0, min_open=True),
                 help="auto/sure: the noise σ in the image's units (e.g. 25 for 8-bit); "
                      "default: estimated from the image and recorded."),
)

# FusionOptions: denoising's classical partner.
fusion_options = panel(
    "Fusion with a classical denoiser",
    click.option("--fusion", default="auto", show_default=True, type=click.Choice(FUSION_METHODS),
                 help="denoise: blend the fit's estimate with a classical denoiser's of the same "
                      "observation, which errs in other places (docs/stopping.md, \"dipbatch beside "
                      "BM3D\"): nl-means (non-local means; Poisson counts through the Anscombe "
                      "transform), or nl-means+dct (their mean with sliding DCT thresholding); auto: "
                      "nl-means+dct for Gaussian noise from σ 16/255 up (without DIP-SURE members), "
                      "nl-means elsewhere. bm3d needs the optional bm3d package "
                      "(non-commercial licence); off: the fit alone. The sidecar records the method, "
                      "the weights and how far the two disagree."),
    click.option("--fusion-weight", type=click.FloatRange(0, 1),
                 help="The fit's share of the blend (default: tuned per noise model; 1: the fit alone)."),
)

# SpeedOptions: what trades nothing but time.
speed_options = panel(
    "Speed",
    click.option("--precision", default="auto", show_default=True, type=click.Choice(PRECISIONS),
                 help="auto: bf16 autocast on CUDA (weights, loss and EMA in fp32), fp32 on CPU."),
    click.option("--channels-last/--no-channels-last", default=None,
                 help="NHWC memory layout (default: on CUDA only)."),
    click.option("--compile", is_flag=True, help="torch.compile the generator (pays off on long fits)."),
    click.option("--deterministic", is_flag=True,
                 help="No cuDNN autotuning: bit-identical reruns on the GPU too, a little slower."),
    click.option("--threads", type=click.IntRange(min=1),
                 help="Torch threads per process (default: the usable cores, shared among the jobs)."),
    click.option("--jobs", type=click.IntRange(min=1),
                 help="Worker processes, one image each at a time (default on a CPU: one per image up "
                      "to the usable cores, or 1 with --threads; on a GPU: 1). Jobs × threads are "
                      "clamped to the usable cores (affinity, SLURM_CPUS_PER_TASK)."),
)

# AstroOptions: FITS and linear high-dynamic-range frames.
astro_options = panel(
    "Astronomy (FITS, linear frames)",
    click.option("--hdu", help="FITS: the HDU to restore, by index or EXTNAME "
                               "(default: the first that holds an image)."),
    click.option("--stretch", default="none", show_default=True, type=click.Choice(STRETCHES),
                 help="Fit linear data through a stretch, undone exactly on output: linear "
                      "maps a percentile window (0.5-99.99 %) of the frame onto [0,1]; asinh "
                      "also compresses bright sources above a few sky sigmas. Samples above "
                      "the window are copied from the input."),
    click.option("--protect-stars", type=click.FloatRange(min=0, min_open=True),
                 help="Copy samples above this level of the fit's [0,1] scale (after "
                      "--stretch) from the input, so stars keep their cores and photometry."),
    click.option("--bad-pixels", type=click.Path(),
                 help="Mask image of the frame's size; non-zero marks a bad pixel (hot, "
                      "cosmic ray), which the fit ignores and the output fills in."),
    click.option("--sigma-clip", type=click.FloatRange(min=0, min_open=True),
                 help="Also treat as bad the samples this many sigmas off their 3×3 median "
                      "that are sharper than a star (hot pixels, cosmic rays); e.g. 5."),
)

# TilingOptions: large frames in tiles.
tiling_options = panel(
    "Large frames in tiles",
    click.option("--tile", default=0, show_default=True, type=click.IntRange(min=0),
                 help="Fit frames larger than this many pixels (either side) in overlapping "
                      "square tiles, blended smoothly; memory then depends on the tile, not the "
                      "frame. 0: fit every frame whole. E.g. 512."),
    click.option("--tile-overlap", default=64, show_default=True, type=click.IntRange(min=0),
                 help="Pixels shared by neighbouring tiles, over which they are cross-faded."),
    click.option("--tile-batch", default=4, show_default=True, type=click.IntRange(min=1),
                 help="Tiles fitted at once (one batched fit); memory grows with it."),
)

# WarmStartOptions: chain the frames of a sequence.
warm_start_options = panel(
    "Warm start (sequences)",
    click.option("--init-weights", type=click.Path(path_type=Path),
                 help="Start the fit from these generator weights (saved by --save-weights for the "
                      "previous frame, same preset, task and size) instead of random ones."),
    click.option("--save-weights", type=click.Path(path_type=Path),
                 help="Save the generator's final weights here, for the next frame's --init-weights "
                      "(one input image only)."),
)

# RestoreOptions.ensemble: seed ensembles.
class EnsembleSize(click.ParamType):
    """`auto` (None: the device's default) or a whole number K >= 1."""

    name = "auto|K"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | None:
        text = str(value).strip().lower()
        if value is None or text == "auto":
            return None
        try:
            k = int(text)
        except ValueError:
            self.fail(f"{value!r} is neither 'auto' nor a whole number", param, ctx)
        if k < 1:
            self.fail(f"{k} is not >= 1 (1: one seed, no ensemble)", param, ctx)
        return k


ensemble_option = click.option(
    "--ensemble", default="auto", show_default=True, type=EnsembleSize(),
    help="Fit K generators per image, with seeds --seed .. --seed+K-1, each with its own stop, and "
         "write the mean of their estimates: +0.3 to +0.7 dB (docs/cli.md, \"Seed ensembles\"); "
         "members cost K times the time on a CPU, about once on a GPU. auto: for denoising and "
         "deblurring 2 on a CPU, 4 on CUDA (fewer if memory is short); 1 for the other tasks, --init-weights/"
         "--save-weights and tiled frames (where a K > 1 is refused). The sidecar records every "
         "member's seed and stop, and their spread.")


def denoising_step(flag: str, modes: tuple[str, ...], text: str) -> Callable[[Any], Any]:
    """A denoising step's switch: `auto` (the default: where it was measured to pay) or `off`."""
    return click.option(flag, default="auto", show_default=True, type=click.Choice(modes), help=text)


# RestoreOptions.declip: undo the bias of clipped noise in a denoised estimate.
declip_option = denoising_step(
    "--declip", DECLIP_MODES,
    "denoise: where the image's noise was clipped at black or white (at least 0.1% of its "
    "samples at an end of the range), map the estimate through the inverse of the clipped "
    "noise's mean, which is too bright near black and too dark near white (Foi 2009; "
    "docs/stopping.md, \"Clipped noise\"); σ from --sigma or fitted. off: never. The "
    "sidecar's declip says what was done.")

# RestoreOptions.dip_sure: half of a denoising ensemble fitted by DIP-SURE.
dip_sure_option = denoising_step(
    "--dip-sure", DIP_SURE_MODES,
    "denoise: make every second member of the ensemble a DIP-SURE member (the noisy image as "
    "the generator's input, Stein's unbiased risk estimate as its loss, 1000 iterations), "
    "which errs where DIP does not: +0.5 dB at σ 15/255 (docs/stopping.md, \"dipbatch beside "
    "BM3D\"). auto: where measured to pay (the fast preset, Gaussian noise of an estimated σ up "
    "to 16/255, two or more members, --stop auto); off: never. The sidecar's dip_sure says so.")
