"""Image quality metrics (pure functions on C×H×W float arrays in [0,1])."""

from __future__ import annotations

import math
import warnings

import numpy as np
from skimage.metrics import structural_similarity
from skimage.restoration import estimate_sigma


def psnr(reference: np.ndarray, estimate: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels."""
    mse = float(np.mean((np.asarray(reference, np.float64) - np.asarray(estimate, np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def ssim(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Mean structural similarity (scikit-image, Gaussian-free 7×7 window), averaged over channels."""
    ref = np.asarray(reference, np.float64)
    est = np.asarray(estimate, np.float64)
    win = min(7, *ref.shape[-2:])
    win -= 1 - win % 2  # an odd window that fits the image
    if win < 3:
        return math.nan
    return float(structural_similarity(ref, est, data_range=1.0, channel_axis=0, win_size=win))


def noise_sigma(image: np.ndarray) -> float | None:
    """The Gaussian noise level (on the [0,1] scale) by wavelet MAD; None when the image is too small."""
    finite = np.nan_to_num(np.asarray(image, np.float64))
    if min(finite.shape[-2:]) < 4:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(estimate_sigma(np.moveaxis(finite, 0, -1), channel_axis=-1, average_sigmas=True))


def flux_ratio(before: np.ndarray, after: np.ndarray,
               value_range: tuple[float, float] = (0.0, 1.0)) -> float | None:
    """The total of the stored values after over before (C×H×W on the [0,1] scale of `value_range`),
    over the samples finite in both: 1 where a restoration kept the flux. None where the total is 0."""
    lo, hi = value_range
    finite = np.isfinite(before) & np.isfinite(after)

    def total(x: np.ndarray) -> float:
        return float(np.sum(lo + np.asarray(x, np.float64)[finite] * (hi - lo)))

    return None if total(before) == 0 else total(after) / total(before)
