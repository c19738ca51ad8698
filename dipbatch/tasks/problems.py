"""From an image and its task's options to the fit's Problem (operator, data-fit, mask or guide),
and from the fit's estimate back to the output image."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import torch

from dipbatch.errors import DipbatchError, FieldError
from dipbatch.fit.presets import Preset, get_preset
from dipbatch.fit.problem import DataFit, Problem
from dipbatch.io.images import Image, read_image
from dipbatch.physics import losses
from dipbatch.physics.operators import SR_FACTORS, Operator
from dipbatch.tasks import task_record
from dipbatch.tasks.masks import alpha_mask, read_mask
from dipbatch.tasks.options import DEFAULT_FACTOR, NOISES, TaskOptions

#: The TaskOptions fields that belong to one task or another (a Task record's `options`).
TASK_ONLY_OPTIONS = ("factor", "mask", "guide", "psf", "psf_hdu")

# FITS keywords that give the photometry when --gain / --read-noise are not set.
GAIN_KEYS = ("GAIN", "EGAIN")
READ_NOISE_KEYS = ("RDNOISE", "READNOIS", "RON")


def check_options(options: TaskOptions) -> None:
    """Refuse option values the task cannot use, each with a one-line error."""
    task = options.kind
    record = task_record(task)
    if options.factor is not None and options.factor not in SR_FACTORS:
        raise FieldError(f"`factor` {options.factor}", "the SR factor must be 2, 4 or 8")
    for name in TASK_ONLY_OPTIONS:  # a task's own options, given to another
        if getattr(options, name) is not None and name not in record.options:
            raise FieldError(f"`{name}`", f"is not used by `task` {task}")
    if record.side_input == "guide" and options.net == "deep-decoder":
        raise FieldError("`net` deep-decoder", "cannot take the flash photo as its input; "
                                               "use skip or hourglass for `task` flash")
    if options.noise not in NOISES:
        raise FieldError(f"`noise` {options.noise}", f"choose one of {', '.join(NOISES)}")
    photon = {"gain": options.gain, "offset": options.offset, "read_noise": options.read_noise}
    for name, value in photon.items():
        if value is not None and options.noise == "gaussian":
            raise FieldError(f"`{name}`", "applies to `noise` poisson or poisson-gaussian only")
    if options.gain is not None and not options.gain > 0:
        raise FieldError(f"`gain` {options.gain:g}", "must be positive")
    if options.read_noise is not None and not options.read_noise >= 0:
        raise FieldError(f"`read_noise` {options.read_noise:g}", "must be 0 or more")
    if options.read_noise is not None and options.noise == "poisson":
        raise FieldError("`read_noise`", "applies to `noise` poisson-gaussian only")


def task_preset(options: TaskOptions, name: str, iterations: int | None = None) -> Preset:
    """The checked options' recipe: the task's preset for its net and SR factor."""
    check_options(options)
    factor = (options.factor or DEFAULT_FACTOR) if options.kind == "sr" else None
    return get_preset(options.kind, name, net=options.net, factor=factor, iterations=iterations)


# ------------------------------------------------------------------------------------- problems


def make_problem(data: np.ndarray, options: TaskOptions, *, mask: np.ndarray | None = None,
                 guide: np.ndarray | None = None, datafit: DataFit = losses.gaussian,
                 operator: Operator | None = None, open_range: bool = False) -> Problem:
    """The inverse problem for C×H×W values on [0,1]; non-finite pixels are left out of the loss.

    `mask` (1×H×W or C×H×W, 1 = known) is required for inpaint, `guide` (C×H×W) for flash.
    `operator` replaces the one the task's options make (deblur with a kernel array).
    `open_range`: the [0,1] scale is the observation's own range and the output can hold more (a
    float image), so the estimate may reach above 1 as the task's `headroom` says (deblur); otherwise
    [0,1] is all the output can hold (an integer image's full range), and the scale is kept below 1.
    """
    record = task_record(options.kind)
    if record.side_input == "mask" and mask is None:
        raise ValueError(f"{record.name} needs a mask array")
    if record.side_input == "guide" and guide is None:
        raise ValueError(f"{record.name} needs a guide array")
    finite = np.isfinite(data)
    known = finite if mask is None else finite & (mask > 0)
    observation = torch.from_numpy(np.where(finite, data, 0.0).astype(np.float32))
    weight = None if known.all() else torch.from_numpy(known.astype(np.float32))
    operator = record.operator(options) if operator is None else operator
    guide_t = None if guide is None else torch.from_numpy(np.nan_to_num(guide).astype(np.float32))
    scale = 1.0 if record.headroom == 1.0 else headroom_scale(data[known], record.headroom, open_range)
    return Problem(observation=observation, operator=operator, datafit=datafit, weight=weight,
                   guide=guide_t, scale=scale)


def headroom_scale(known: np.ndarray, headroom: float, open_range: bool) -> float:
    """The generator's output × this is the estimate: `headroom` × the brightest known value (so a
    faint frame is fitted in the generator's range too), at most 1 unless `open_range`; 1 where
    nothing is above zero."""
    peak = float(known.max()) if known.size else 0.0
    scale = headroom * peak if peak > 0 else 1.0
    return scale if open_range else min(scale, 1.0)


def build_problem(image: Image, options: TaskOptions) -> Problem:
    """The inverse problem for one read image: its mask, guide and noise model come from the options."""
    check_options(options)
    side = task_record(options.kind).side_input
    mask = guide = None
    if side == "mask":
        mask = image_mask(image, options.mask)
    if side == "guide":
        if options.guide is None:
            raise FieldError(f"`task` {options.kind}", "needs `guide` FILE, the flash photo of the scene")
        guide = read_guide(options.guide, image)
    problem = make_problem(image.data, options, mask=mask, guide=guide, datafit=datafit_for(image, options),
                           open_range=np.dtype(image.source.dtype).kind == "f")
    task_record(options.kind).check_image(problem.operator, image)
    return problem


def image_mask(image: Image, path: Path | None) -> np.ndarray:
    """The inpainting mask from `path`, or else from the image's alpha channel."""
    if path is not None:
        if not Path(path).is_file():
            raise DipbatchError(path, "no such mask file")
        return read_mask(path, image)
    mask = alpha_mask(image)
    if mask is None:
        raise FieldError(image.source.path, "inpaint needs a mask: pass `mask` FILE (white = known "
                                            "pixel) or give the image an alpha channel")
    return mask


def read_guide(path: Path, image: Image) -> np.ndarray:
    """The flash photo, which must match the no-flash image in size and channels."""
    guide = read_image(path).data
    if guide.shape[1:] != image.data.shape[1:]:
        (gh, gw), (h, w) = guide.shape[1:], image.data.shape[1:]
        raise DipbatchError(path, f"guide is {gw}×{gh} pixels but the image "
                                  f"{Path(image.source.path).name} is {w}×{h}")
    if guide.shape[0] != image.data.shape[0]:
        raise DipbatchError(path, f"guide has {guide.shape[0]} channels but the image has "
                                  f"{image.data.shape[0]}")
    return guide


def _header_value(image: Image, keys: tuple[str, ...]) -> float | None:
    header = image.source.metadata.get("fits_header")
    if header is None:
        return None
    return next((float(header[k]) for k in keys if isinstance(header.get(k), int | float)), None)


def photometry_for(image: Image, options: TaskOptions) -> losses.Photometry:
    """How the image's [0,1] values map to electrons: its stored range, gain and offset."""
    gain = options.gain if options.gain is not None else _header_value(image, GAIN_KEYS)
    read_noise = options.read_noise if options.read_noise is not None \
        else _header_value(image, READ_NOISE_KEYS)
    return losses.Photometry(value_range=image.source.value_range, gain=gain or 1.0,
                             offset=options.offset or 0.0, read_noise=read_noise or 0.0)


def datafit_for(image: Image, options: TaskOptions) -> DataFit:
    """The data-fit term of the options' noise model; Poisson refuses negative data without an offset."""
    if options.noise == "gaussian":
        return losses.gaussian
    photometry = photometry_for(image, options)
    if options.noise == "poisson" and options.offset is None:
        lo, hi = photometry.value_range
        finite = image.data[np.isfinite(image.data)]
        smallest = lo + float(finite.min()) * (hi - lo) if finite.size else 0.0
        if smallest < 0:
            raise FieldError(image.source.path, f"has negative values (down to {smallest:g}), which "
                                                "are not photon counts: pass `offset` (the stored "
                                                "value of zero light) or use `noise` poisson-gaussian")
    return noise_datafit(options.noise, photometry)


def noise_datafit(noise: str, photometry: losses.Photometry) -> DataFit:
    """The data-fit term of a noise model (one of NOISES)."""
    if noise == "gaussian":
        return losses.gaussian
    term = losses.poisson if noise == "poisson" else losses.poisson_gaussian
    return partial(term, photometry=photometry)


# ------------------------------------------------------------------------------------- estimates


def finish_estimate(image: Image, problem: Problem, estimate: np.ndarray,
                    options: TaskOptions) -> Image:
    """The output image: what the fit must not change is put back (non-finite pixels keep their
    stored values), in the task's way (its record's `finish`: inpainting keeps its known pixels,
    super-resolution enlarges the alpha plane with the image)."""
    return task_record(options.kind).finish(image, problem, estimate, options)
