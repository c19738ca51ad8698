"""Point-spread functions: the blur kernels of the deblur task, from parameters or from an image,
normalised to sum 1 and centred on their centroid.

A kernel is a 2-D float64 array of odd size whose centre pixel is the PSF's centre. The models are
a Gaussian and a Moffat profile, given by their FWHM in pixels, and a uniform disk (defocus).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from dipbatch.errors import FieldError

#: FWHM = 2 √(2 ln 2) σ for a Gaussian.
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
#: The models and the parameters each takes (the first is required; the rest have defaults).
MODELS = {"gaussian": ("fwhm",), "moffat": ("fwhm", "beta"), "disk": ("radius",)}
MOFFAT_BETA = 2.5
#: How far out a model is drawn: its kernel holds all but about 1e-4 of its light.
TRUNCATE_FWHM = 3.0


@dataclass(frozen=True)
class Psf:
    """A normalised, centred kernel and where it came from."""

    kernel: np.ndarray  # k×k, odd k, sum 1
    source: str  # "gaussian:fwhm=3.2", or the file it was read from

    def record(self) -> dict[str, object]:
        """What the sidecar says of it: source, size, measured FWHM, and a hash of the kernel."""
        return {"source": self.source, "size": list(self.kernel.shape),
                "fwhm_px": round(fwhm(self.kernel), 3),
                "sha256": hashlib.sha256(np.ascontiguousarray(self.kernel, np.float64).tobytes()).hexdigest()}


def is_model(spec: str) -> bool:
    """Whether `spec` names a model (`gaussian:fwhm=3`) rather than a file."""
    return spec.split(":", 1)[0] in MODELS and ":" in spec


def parse_model(spec: str) -> Psf:
    """The kernel of a model spec, `name:key=value,key=value`; a FieldError names what is wrong."""
    name, _, rest = spec.partition(":")
    where = f"`psf` {spec}"
    values: dict[str, float] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in MODELS[name]:
            raise FieldError(where, f"{name} takes {', '.join(k + '=' for k in MODELS[name])} "
                                    f"(e.g. {example(name)})")
        try:
            values[key] = float(value)
        except ValueError:
            raise FieldError(where, f"{key} must be a number, not {value!r}") from None
        if not values[key] > 0 or not math.isfinite(values[key]):
            raise FieldError(where, f"{key} must be positive")
    required = MODELS[name][0]
    if required not in values:
        raise FieldError(where, f"{name} needs {required}= (e.g. {example(name)})")
    if name == "gaussian":
        kernel = gaussian(values["fwhm"])
    elif name == "moffat":
        kernel = moffat(values["fwhm"], values.get("beta", MOFFAT_BETA))
    else:
        kernel = disk(values["radius"])
    return Psf(normalise(kernel, where), spec)


def example(name: str) -> str:
    return {"gaussian": "gaussian:fwhm=3.2", "moffat": "moffat:fwhm=3,beta=2.5",
            "disk": "disk:radius=4"}[name]


def _grid(radius: int) -> tuple[np.ndarray, np.ndarray]:
    axis = np.arange(-radius, radius + 1, dtype=np.float64)
    return np.meshgrid(axis, axis, indexing="ij")


def gaussian(fwhm_px: float) -> np.ndarray:
    """A Gaussian of the given FWHM, drawn out to TRUNCATE_FWHM × FWHM across."""
    sigma = fwhm_px / FWHM_PER_SIGMA
    y, x = _grid(max(1, math.ceil(TRUNCATE_FWHM * fwhm_px / 2 + 1)))
    return np.exp(-(x * x + y * y) / (2 * sigma * sigma))


def moffat(fwhm_px: float, beta: float) -> np.ndarray:
    """A Moffat profile (1 + r²/α²)^-β of the given FWHM; its wings reach further than a Gaussian's."""
    alpha = fwhm_px / (2 * math.sqrt(2 ** (1 / beta) - 1))
    y, x = _grid(max(1, math.ceil(2.5 * TRUNCATE_FWHM * fwhm_px / 2 + 1)))
    return (1 + (x * x + y * y) / (alpha * alpha)) ** -beta


def disk(radius: float) -> np.ndarray:
    """A uniform disk (defocus), its edge pixels weighted by the share of them inside (4×4 samples)."""
    r = math.ceil(radius)
    y, x = _grid(r)
    offsets = (np.arange(4) + 0.5) / 4 - 0.5
    inside = sum(((x + dx) ** 2 + (y + dy) ** 2 <= radius * radius).astype(np.float64)
                 for dx in offsets for dy in offsets)
    return inside / 16.0


def normalise(kernel: np.ndarray, where: str | Path) -> np.ndarray:
    """The kernel scaled to sum 1, on an odd square grid centred (to the nearest pixel) on its
    centroid; refuses a kernel that is not a finite 2-D array with a positive total (naming
    `where`: the option, or the file the kernel came from)."""
    in_file = isinstance(where, Path)
    kernel = np.asarray(kernel, np.float64)
    if kernel.ndim == 3 and kernel.shape[0] == 1:
        kernel = kernel[0]
    if kernel.ndim != 2:
        raise FieldError(where, f"a PSF must be one 2-D plane, not of shape {kernel.shape}", in_file)
    if not np.isfinite(kernel).all():
        raise FieldError(where, "the PSF has non-finite values", in_file)
    total = float(kernel.sum())
    if not total > 0:
        raise FieldError(where, f"the PSF's total is {total:g}; it must be positive", in_file)
    kernel = kernel / total
    rows, cols = np.indices(kernel.shape)
    cy, cx = float((rows * kernel).sum()), float((cols * kernel).sum())
    cy_i, cx_i = round(cy), round(cx)
    half = max(cy_i, cx_i, kernel.shape[0] - 1 - cy_i, kernel.shape[1] - 1 - cx_i)
    centred = np.zeros((2 * half + 1, 2 * half + 1))
    top, left = half - cy_i, half - cx_i
    centred[top:top + kernel.shape[0], left:left + kernel.shape[1]] = kernel
    return centred


def fwhm(kernel: np.ndarray) -> float:
    """The FWHM in pixels: the diameter of the circle with the area above half the peak, measured
    on the kernel interpolated 8× (a Moffat's wings do not widen it, as a second moment would)."""
    fine = ndimage.zoom(np.asarray(kernel, np.float64), 8, order=3, grid_mode=True, mode="grid-constant")
    area = np.count_nonzero(fine >= fine.max() / 2) / 64.0
    return float(2.0 * math.sqrt(area / math.pi))
