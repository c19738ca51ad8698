"""Classical denoisers and the maths of fusing them with a fit's estimate (pure functions on C×H×W arrays).

A classical prior (non-local self-similarity; sparsity in local DCTs) errs in other places than the
generator's, so a weighted mean of the two estimates is better than either; an empirical Wiener filter of the
observation, with that mean as its pilot (BM3D's second step, without the block matching), is
better again. Poisson counts are denoised in the variance-stabilised domain of the generalized
Anscombe transform, where the noise is Gaussian of σ 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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


def blend(estimate: np.ndarray, classical: np.ndarray, weight: float) -> np.ndarray:
    """`weight` × the fit's estimate + (1 − `weight`) × the classical one."""
    return (weight * np.asarray(estimate, np.float64)
            + (1.0 - weight) * np.asarray(classical, np.float64)).astype(np.float32)


def disagreement(estimate: np.ndarray, classical: np.ndarray, sigma: float) -> float:
    """How far two estimates of one image differ: their RMS difference in units of the noise σ."""
    diff = np.asarray(estimate, np.float64) - np.asarray(classical, np.float64)
    return float(np.sqrt(np.mean(diff ** 2)) / max(sigma, 1e-12))


#: The DCT hard-thresholding denoiser's patch side and threshold in units of σ (a textbook sliding
#: DCT filter: Yu and Sapiro, IPOL 2011), checked on the tuning half of `benchmarks/classical.py`.
DCT_PATCH = 8
DCT_THRESHOLD = 2.7

#: A channel's shrinkage: from its patches' DCT coefficients (rows × cols × side × side) and the
#: band of rows they come from, the gain of each coefficient and the weight of each patch.
Shrink = Callable[[np.ndarray, slice], tuple[np.ndarray, np.ndarray]]


def _sliding_dct_filter(noisy: np.ndarray, side: int, shrink: Shrink) -> np.ndarray:
    """One H×W channel filtered in side×side DCT patches at every position: each patch's
    coefficients multiplied by `shrink`'s gains, the patches put back with its weights."""
    height, width = noisy.shape
    rows, cols = height - side + 1, width - side + 1
    total = np.zeros((height, width))
    weights = np.zeros((height, width))
    step = max(1, WIENER_CHUNK // (cols * side * side))
    for top in range(0, rows, step):
        n = min(step, rows - top)
        band = slice(top, top + n + side - 1)
        coeffs = dctn(sliding_window_view(noisy[band], (side, side)), axes=(2, 3), norm="ortho")
        gain, weight = shrink(coeffs, band)
        patches = idctn(coeffs * gain, axes=(2, 3), norm="ortho")
        for dy in range(side):
            for dx in range(side):
                total[top + dy:top + dy + n, dx:dx + cols] += weight * patches[:, :, dy, dx]
                weights[top + dy:top + dy + n, dx:dx + cols] += weight
    return total / weights


def _wiener_shrink(pilot: np.ndarray, sigma: float, side: int) -> Shrink:
    """Every coefficient but the patch mean shrunk by pilot² / (pilot² + σ²), each patch weighted
    by BM3D's 1 / the estimate's variance."""
    def shrink(coeffs: np.ndarray, band: slice) -> tuple[np.ndarray, np.ndarray]:
        gain = dctn(sliding_window_view(pilot[band], (side, side)), axes=(2, 3), norm="ortho") ** 2
        gain /= gain + sigma ** 2
        gain[:, :, 0, 0] = 1.0  # each patch keeps its mean: no bias towards dark, fluxes kept
        return gain, 1.0 / (sigma ** 2 * (gain ** 2).sum(axis=(2, 3)) + 1e-12)
    return shrink


def _threshold_shrink(sigma: float) -> Shrink:
    """Coefficients below DCT_THRESHOLD × σ dropped, the patch mean kept; each patch weighted by
    1 / the coefficients it keeps (BM3D's hard-thresholding weights)."""
    def shrink(coeffs: np.ndarray, band: slice) -> tuple[np.ndarray, np.ndarray]:
        keep = np.abs(coeffs) >= DCT_THRESHOLD * sigma
        keep[:, :, 0, 0] = True
        return keep, 1.0 / keep.sum(axis=(2, 3))
    return shrink


def _in_opponent_colours(filter_channel: Callable[..., np.ndarray], data: np.ndarray,
                         *guides: np.ndarray) -> np.ndarray:
    """`filter_channel(channel, *the guides' same channel)` on each channel of C×H×W `data`; three
    channels are taken to the opponent colour space first (the noise keeps its σ there), and back."""
    colour = OPPONENT if data.shape[0] == 3 else np.eye(data.shape[0])
    planes = [np.tensordot(colour, np.asarray(a, np.float64), 1) for a in (data, *guides)]
    out = np.stack([filter_channel(*(p[c] for p in planes)) for c in range(data.shape[0])])
    return np.tensordot(colour.T, out, 1).astype(np.float32)


def wiener(noisy: np.ndarray, pilot: np.ndarray, sigma: float,
           sides: tuple[int, ...] = WIENER_PATCHES) -> np.ndarray:
    """The empirical Wiener filter of C×H×W `noisy` (Gaussian noise σ) with `pilot` as its estimate
    of the signal: in DCT patches of each side at every position, averaged over the sides; three
    channels are filtered in the opponent colour space. Images smaller than a patch come back as the
    pilot."""
    sides = tuple(s for s in sides if s <= min(np.shape(noisy)[-2:]))
    if not sides:
        return np.asarray(pilot, np.float32)

    def filter_channel(y: np.ndarray, q: np.ndarray) -> np.ndarray:
        return np.mean([_sliding_dct_filter(y, s, _wiener_shrink(q, sigma, s)) for s in sides], axis=0)

    return _in_opponent_colours(filter_channel, noisy, pilot)


def dct_threshold(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """A sliding-window DCT denoiser of C×H×W values with Gaussian noise σ: DCT_PATCH-side patches
    at every position, hard-thresholded at DCT_THRESHOLD σ, in opponent colours; images smaller
    than a patch come back as they are."""
    if min(np.shape(noisy)[-2:]) < DCT_PATCH:
        return np.asarray(noisy, np.float32)
    return _in_opponent_colours(lambda y: _sliding_dct_filter(y, DCT_PATCH, _threshold_shrink(sigma)), noisy)


def nl_means_and_dct(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """The mean of NL-means' and the DCT denoiser's estimates: two classical priors that err in
    different places, the fusion's partner at strong Gaussian noise."""
    return ((nl_means(noisy, sigma).astype(np.float64) + dct_threshold(noisy, sigma)) / 2).astype(np.float32)


CLASSICAL = {"nl-means": nl_means, "nl-means+dct": nl_means_and_dct, "bm3d": bm3d}
