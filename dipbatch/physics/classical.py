"""Classical denoisers and the maths of fusing them with a fit's estimate (pure functions on C×H×W arrays).

A classical prior (non-local self-similarity) errs in other places than the generator's, so a
weighted mean of the two estimates is better than either; an empirical Wiener filter of the
observation, with that mean as its pilot (BM3D's second step, without the block matching), is
better again. Poisson counts are denoised in the variance-stabilised domain of the generalized
Anscombe transform, where the noise is Gaussian of σ 1.
"""

from __future__ import annotations

import math
from importlib import import_module

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from scipy.fft import dctn, idctn
from skimage.restoration import denoise_nl_means

from dipbatch.physics.losses import generalized_anscombe

#: NL-means' parameters (patch side, search radius, filtering strength h in units of σ), chosen on
#: the tuning half of `benchmarks/classical.py`.
NLM_PATCH = 5
NLM_DISTANCE = 6
NLM_STRENGTH = 0.7
#: The empirical Wiener filter's patch sides (every position, averaged over the sides), chosen on the
#: tuning half of `benchmarks/classical.py`.
WIENER_PATCHES = (4, 6, 8)
#: An orthonormal opponent colour transform (luminance and two colour differences): the noise keeps
#: its σ, and most of the signal lands in one channel.
OPPONENT = np.array([[1, 1, 1], [np.sqrt(1.5), 0, -np.sqrt(1.5)],
                     [np.sqrt(0.5), -np.sqrt(2), np.sqrt(0.5)]]) / np.sqrt(3)
WIENER_CHUNK = 2 ** 22  # patch coefficients per block of rows (32 MiB of float64)


def anscombe(counts: np.ndarray, read_noise: float = 0.0) -> np.ndarray:
    """The generalized Anscombe transform of photo-electron counts (Gaussian read noise in e⁻ RMS):
    the data-fit's own (`losses.generalized_anscombe`), on arrays."""
    return generalized_anscombe(torch.from_numpy(np.asarray(counts, np.float64)), read_noise).numpy()


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


def _wiener_channel(noisy: np.ndarray, pilot: np.ndarray, sigma: float, side: int) -> np.ndarray:
    """One H×W channel, side×side patches at every position: each patch's DCT coefficients but its
    mean shrunk by pilot² / (pilot² + σ²), the patches put back with BM3D's weights (1 / the
    estimate's variance)."""
    height, width = noisy.shape
    rows, cols = height - side + 1, width - side + 1
    total = np.zeros((height, width))
    weights = np.zeros((height, width))
    step = max(1, WIENER_CHUNK // (cols * side * side))
    for top in range(0, rows, step):
        n = min(step, rows - top)
        band = (slice(top, top + n + side - 1), slice(None))
        coeffs = dctn(sliding_window_view(noisy[band], (side, side)), axes=(2, 3), norm="ortho")
        gain = dctn(sliding_window_view(pilot[band], (side, side)), axes=(2, 3), norm="ortho") ** 2
        gain /= gain + sigma ** 2
        gain[:, :, 0, 0] = 1.0  # each patch keeps its mean: no bias towards dark, fluxes kept
        patches = idctn(coeffs * gain, axes=(2, 3), norm="ortho")
        weight = 1.0 / (sigma ** 2 * (gain ** 2).sum(axis=(2, 3)) + 1e-12)
        for dy in range(side):
            for dx in range(side):
                total[top + dy:top + dy + n, dx:dx + cols] += weight * patches[:, :, dy, dx]
                weights[top + dy:top + dy + n, dx:dx + cols] += weight
    return total / weights


def wiener(noisy: np.ndarray, pilot: np.ndarray, sigma: float,
           sides: tuple[int, ...] = WIENER_PATCHES) -> np.ndarray:
    """The empirical Wiener filter of C×H×W `noisy` (Gaussian noise σ) with `pilot` as its estimate
    of the signal: in DCT patches of each side at every position, averaged over the sides; three
    channels are filtered in the opponent colour space. Images smaller than a patch come back as the
    pilot."""
    data, guide = np.asarray(noisy, np.float64), np.asarray(pilot, np.float64)
    sides = tuple(s for s in sides if s <= min(data.shape[-2:]))
    if not sides:
        return guide.astype(np.float32)
    colour = OPPONENT if data.shape[0] == 3 else np.eye(data.shape[0])
    y, q = np.tensordot(colour, data, 1), np.tensordot(colour, guide, 1)
    out = np.mean([[_wiener_channel(y[c], q[c], sigma, side) for c in range(len(y))] for side in sides],
                  axis=0)
    return np.tensordot(colour.T, out, 1).astype(np.float32)
