"""Astronomy frames: stretch linear HDR data for the fit and back, protect stars, mask bad pixels.

`prepare` turns an image as read into what the fit observes: stretched into [0,1] by one window
for the whole frame (so all its tiles share it), with bad samples (a mask file, a sigma clip) and
blank ones set to NaN, which the loss leaves out. `Frame.problem` builds the task's problem on it;
photon-noise losses see the stretch undone, so they count photons whatever the stretch.
`Frame.to_image` maps the fit's estimate back to the input's scale and copies the protected
samples (star cores, anything above the window) from the input verbatim, so their photometry is
exact.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from dipbatch.astro.masks import read_bad_pixels, sigma_clip_mask
from dipbatch.astro.stretch import Stretch, fit_stretch
from dipbatch.errors import FieldError
from dipbatch.fit.problem import Problem
from dipbatch.io.images import Image, hdu_key
from dipbatch.tasks import TaskOptions, task_record
from dipbatch.tasks.problems import build_problem, datafit_for

__all__ = ["AstroOptions", "Frame", "prepare"]


@dataclass(frozen=True)
class AstroOptions:
    """How to read a scientific frame and condition it for the fit."""

    hdu: str | None = None  # FITS HDU: index or EXTNAME; None: the first with data
    stretch: str = "none"  # "none" | "linear" | "asinh"
    protect_stars: float | None = None  # fit-scale threshold above which samples pass through
    bad_pixels: str | None = None  # mask file, non-zero = bad
    sigma_clip: float | None = None  # k of the hot/cold-pixel and cosmic-ray sigma clip

    @property
    def hdu_key(self) -> int | str | None:
        """The HDU as `read_image` takes it: a number is an index, anything else an EXTNAME."""
        return hdu_key(self.hdu)

    @property
    def active(self) -> bool:
        return self.stretch != "none" or any(
            v is not None for v in (self.protect_stars, self.bad_pixels, self.sigma_clip))


@dataclass
class Frame:
    """An image as read, the image the fit observes, and how to map the fit's estimate back."""

    image: Image
    observed: Image
    stretch: Stretch | None = None
    passthrough: np.ndarray | None = None  # C×H×W: samples copied verbatim from the input
    bad: np.ndarray | None = None  # C×H×W: samples the fit ignored and the output fills in

    def problem(self, options: TaskOptions) -> Problem:
        """The task's problem on the observed image; a photon-noise loss gets the asinh undone."""
        if not task_record(options.kind).pointwise and self.passthrough is not None:  # stretch or stars
            raise FieldError("`stretch`, `protect_stars`", f"cannot be used with `task` {options.kind}: "
                             "its operator mixes neighbouring pixels, which a per-pixel stretch or star "
                             "protection would break; fit the linear frame (stretch none, no star "
                             "protection)")
        problem = build_problem(self.observed, options)
        if options.noise == "gaussian" or self.stretch is None or self.stretch.kind == "linear":
            return problem  # a linear stretch is already in `observed`'s value range
        photons, inverse = datafit_for(self.image, options), self.stretch.inverse
        return replace(problem, datafit=lambda predicted, observed, weight: photons(
            inverse(predicted), inverse(observed), weight))

    def to_image(self, estimate: np.ndarray) -> np.ndarray:
        """The fit's estimate on the input's [0,1] scale, with the protected samples put back."""
        if self.stretch is not None:
            estimate = self.stretch.inverse(estimate)
        if self.passthrough is not None and estimate.shape == self.image.data.shape:
            estimate = np.where(self.passthrough, self.image.data, estimate)
        return np.asarray(estimate, np.float32)

    def record(self) -> dict[str, Any]:
        """What the conditioning did, in the input's stored units, for the sidecar."""
        if self.observed is self.image:
            return {}
        value_range = self.image.source.value_range
        return {"astro": {
            "stretch": self.stretch.in_units(value_range) if self.stretch else "none",
            "protected_samples": _count(self.passthrough),
            "bad_samples": _count(self.bad),
            "blank_samples": int(np.count_nonzero(~np.isfinite(self.image.data))),
        }}


def _count(mask: np.ndarray | None) -> int:
    return 0 if mask is None else int(np.count_nonzero(mask))


def prepare(image: Image, options: AstroOptions) -> Frame:
    """Condition `image` for the fit as `options` say; with no astro option it is left as it is."""
    if not options.active:
        return Frame(image, image)
    data = image.data
    bad = np.zeros(data.shape, bool)
    if options.bad_pixels is not None:
        bad |= read_bad_pixels(options.bad_pixels, image.source.size)[None]
    lo, hi = image.source.value_range
    if options.sigma_clip is not None:
        bad |= sigma_clip_mask(lo + data.astype(np.float64) * (hi - lo), options.sigma_clip)
    stretch = None if options.stretch == "none" else fit_stretch(np.where(bad, np.nan, data), options.stretch)
    level = data if stretch is None else stretch.forward(data)
    protect = options.protect_stars if options.protect_stars is not None else 1.0
    threshold = min(1.0, protect)  # what lies above the window is clipped for the fit: always copied
    passthrough = None
    if stretch is not None or options.protect_stars is not None:
        with np.errstate(invalid="ignore"):
            passthrough = (level > threshold) & ~bad
    observed = np.where(bad, np.nan, np.clip(level, 0.0, 1.0)).astype(np.float32)
    source = image.source
    if stretch is not None and stretch.kind == "linear":  # still an affine map of stored values
        source = replace(source, value_range=(lo + stretch.lo * (hi - lo), lo + stretch.hi * (hi - lo)))
    return Frame(image, Image(observed, source), stretch, passthrough, bad)
