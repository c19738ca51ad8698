"""deblur: the image is the estimate blurred by a known PSF (a "valid" convolution, so the estimate
reaches the PSF's radius beyond each edge); the output is the estimate's centre, the image's size.

The PSF comes from `psf`: a model (`gaussian:fwhm=3.2`, `moffat:fwhm=3,beta=2.5`, `disk:radius=4`)
or an image file (FITS, with `psf_hdu`, TIFF or PNG), normalised to sum 1 and centred on its centroid.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dipbatch.errors import DipbatchError, FieldError
from dipbatch.fit.signals import ContrastThreshold
from dipbatch.io.images import Image, hdu_key, read_image
from dipbatch.physics import psf as psfs
from dipbatch.tasks.options import TaskOptions
from dipbatch.tasks.task import Task

if TYPE_CHECKING:
    from dipbatch.fit.problem import Problem
    from dipbatch.physics.operators import Blur


#: The estimate reaches up to this many times the observation's brightest value: a star's core comes
#: back brighter than its blurred image (a float image reads 1 at its brightest pixel), and a faint
#: 16-bit frame is fitted in the generator's range, not its bottom percent (an integer image's scale
#: stays within its type's range). Chosen on the tuning half of benchmarks/deconvolution.py
#: (RESULTS.md, "Deconvolution": 2 and 4 against the fixed [0,1] scale).
DEBLUR_HEADROOM = 4.0


def load_psf(options: TaskOptions) -> psfs.Psf:
    """The options' PSF: a model's kernel, or a file's, normalised and centred."""
    spec = options.psf
    if spec is None:
        raise FieldError("`task` deblur", "needs `psf`: a file (FITS, TIFF, PNG) or a model such as "
                                          "gaussian:fwhm=3.2, moffat:fwhm=3,beta=2.5 or disk:radius=4")
    if psfs.is_model(spec):
        if options.psf_hdu is not None:
            raise FieldError("`psf_hdu`", "applies to a PSF file, not to a model")
        return psfs.parse_model(spec)
    path = Path(spec)
    if not path.is_file():
        raise DipbatchError(path, "no such PSF file (or a model: gaussian:fwhm=…, moffat:fwhm=…,beta=…, "
                                  "disk:radius=…)")
    picture = read_image(path, hdu=hdu_key(options.psf_hdu))
    lo, hi = picture.source.value_range
    kernel = lo + picture.data.astype(np.float64) * (hi - lo)  # the stored values: a PSF may dip below 0
    if kernel.shape[0] > 1:
        kernel = kernel.mean(axis=0)  # a colour PSF file: one kernel for every channel
    return psfs.Psf(psfs.normalise(kernel, path), str(path))


def blur_for(options: TaskOptions) -> Blur:
    from dipbatch.physics.operators import Blur  # torch, when a fit asks (dipbatch.tasks.task)

    return Blur(load_psf(options).kernel)


def check_fits(operator: Blur, image: Image) -> None:
    """Refuse a PSF larger than the image (its blur would reach past every pixel)."""
    height, width = image.data.shape[-2:]
    if operator.size > min(height, width):
        raise FieldError("`psf`", f"is {operator.size}×{operator.size} pixels (centred), larger than the "
                                  f"image {Path(image.source.path).name} ({width}×{height})")


def crop_to_image(image: Image, problem: Problem, estimate: np.ndarray, options: TaskOptions) -> Image:
    """The estimate's centre, where the observation is: the PSF's radius off each edge."""
    height, width = image.data.shape[-2:]
    top, left = (estimate.shape[-2] - height) // 2, (estimate.shape[-1] - width) // 2
    centre = estimate[..., top:top + height, left:left + width]
    data = image.data
    return Image(np.where(np.isfinite(data), centre, data).astype(np.float32), image.source)


def facts(options: TaskOptions) -> dict[str, Any]:
    return {"psf": load_psf(options).record()}


#: Deblurring's discrepancy threshold follows the frame's peak contrast (signals.peak_contrast):
#: where the brightest structure stands far above its noise (a 300-photon star field, a photo at
#: σ 15/255) the best stop lies below the noise floor, in a faint field (30 photons) just above it.
#: Chosen on the tuning half of benchmarks/deconvolution.py at 128² (mean gap to the oracle 0.24 dB,
#: against 0.45 for the best fixed ratio, 0.98; 0.14 with the star fields fitted as a 16-bit frame
#: is, with headroom); the cut lies between the tuning half's faint fields (contrast ≤ 4.8) and
#: bright ones (≥ 11.4). RESULTS.md, "Deblurring's threshold by contrast".
DEBLUR_DISCREPANCY = ContrastThreshold(bright=0.94, faint=0.99, cut=7.0)

#: Seed ensembles by default (`ensembles`), as for denoising: on the 64² cases of
#: benchmarks/deconvolution.py two members each stopped by its own signal gain 0.44 dB (tuning) and
#: 0.54 dB (held out) over one, and their automatic stop's worst gap to the oracle falls from 1.74 to
#: 0.98 dB (RESULTS.md, "Two members for deblurring").
TASK = Task("deblur", operator=blur_for, options=("psf", "psf_hdu"), noise_floor=True, packable=False,
            pointwise=False, finish=crop_to_image, facts=facts, discrepancy=DEBLUR_DISCREPANCY,
            headroom=DEBLUR_HEADROOM, ensembles=True, check_image=check_fits)
