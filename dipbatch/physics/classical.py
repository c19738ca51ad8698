"""Classical denoisers and the maths of fusing them with a fit's estimate (pure functions on C×H×W arrays).

A classical prior (non-local self-similarity) errs in other places than the generator's, so a
weighted mean of the two estimates is better than either. Poisson counts are denoised in the
variance-stabilised domain of the generalized Anscombe transform, where the noise is Gaussian of σ 1.
"""

from __future__ import annotations

import math
from importlib import import_module

import numpy as np
from skimage.restoration import denoise_nl_means

#: NL-means' parameters (patch side, search radius, filtering strength h in units of σ), chosen on
#: the tuning half of `benchmarks/classical.py`.
NLM_PATCH = 5
NLM_DISTANCE = 6
NLM_STRENGTH = 0.7


def anscombe(counts: np.ndarray, read_noise: float = 0.0) -> np.ndarray:
    """The generalized Anscombe transform of photo-electron counts (Gaussian read noise in e⁻ RMS)."""
    return 2.0 * np.sqrt(np.maximum(np.asarray(counts, np.float64) + 0.375 + read_noise ** 2, 0.0))


def inverse_anscombe(z: np.ndarray, read_noise: float = 0.0) -> np.ndarray:
    """The closed-form approximation of the exact unbiased inverse (Mäkinen and Foi, 2011 and 2013)."""
    z = np.maximum(np.asarray(z, np.float64), 0.8)  # below 0.8 the series diverges; counts ≈ 0 there
    root = math.sqrt(1.5)
    counts = (0.25 * z ** 2 + 0.25 * root / z - 1.375 / z ** 2 + 0.625 * root / z ** 3 - 0.125
              - read_noise ** 2)
    return np.maximum(counts, 0.0)


def nl_means(noisy: np.ndarray, sigma: float, strength: float = NLM_STRENGTH) -> np.ndarray:
    """Non-local means (scikit-image) of C×H×W values with Gaussian noise σ: patches compared over
    all channels, each averaged with the same weights."""
    hwc = np.moveaxis(np.asarray(noisy, np.float64), 0, -1)
    out = denoise_nl_means(hwc, h=strength * sigma, sigma=sigma, fast_mode=True, patch_size=NLM_PATCH,
                           patch_distance=NLM_DISTANCE, channel_axis=-1)
    return np.moveaxis(out.reshape(hwc.shape), -1, 0).astype(np.float32)


def bm3d(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """BM3D (CBM3D for three channels) from the optional `bm3d` package, whose licence allows
    non-commercial use only: it is installed only by a user who chooses it."""
    module = import_module("bm3d")
    data = np.asarray(noisy, np.float64)
    if data.shape[0] == 3:
        out = module.bm3d_rgb(np.moveaxis(data, 0, -1), sigma)
        return np.moveaxis(out, -1, 0).astype(np.float32)
    return np.stack([module.bm3d(channel, sigma) for channel in data]).astype(np.float32)


CLASSICAL = {"nl-means": nl_means, "bm3d": bm3d}


def blend(estimate: np.ndarray, classical: np.ndarray, weight: float) -> np.ndarray:
    """`weight` × the fit's estimate + (1 − `weight`) × the classical one."""
    return (weight * np.asarray(estimate, np.float64)
            + (1.0 - weight) * np.asarray(classical, np.float64)).astype(np.float32)


def disagreement(estimate: np.ndarray, classical: np.ndarray, sigma: float) -> float:
    """How far two estimates of one image differ: their RMS difference in units of the noise σ."""
    diff = np.asarray(estimate, np.float64) - np.asarray(classical, np.float64)
    return float(np.sqrt(np.mean(diff ** 2)) / max(sigma, 1e-12))
