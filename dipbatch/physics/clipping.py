"""Gaussian noise clipped to the value range: its mean, the inverse of that mean, and its σ.

An 8- or 16-bit image stores clip(x + σz, 0, 1): where the signal x lies within a few σ of black
(or white), the clipped noise is lopsided and the observation's mean is biased, μ(x) > x near 0 and
μ(x) < x near 1. A denoiser (the fit, or a classical one) estimates that mean, so its estimate of a
dark sky or a shadow is too bright by up to 0.4σ. Foi's recipe (Foi, "Clipped noisy images:
heteroskedastic modeling and practical denoising", Signal Processing 2009) undoes it: x = μ⁻¹(the
estimate). σ is the noise before the clip, which a wavelet MAD of the clipped data underestimates;
it is fitted here by the censored (Tobit) likelihood of the observation around the estimate.
Everything is on the [0,1] scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_ndtr, ndtr

#: An end of the range counts as clipped where at least this fraction of the samples sit on it, and
#: at least CLIPPED_SAMPLES of them (a float frame scaled by its own extremes has one at each end).
CLIPPED_FRACTION = 1e-3
CLIPPED_SAMPLES = 8
_TABLE = 8193  # points of the table that inverts μ
_SIGMA_BOUNDS = (1e-3, 0.5)  # σ on [0,1] that the likelihood is searched over
_MAX_SAMPLES = 1 << 20  # σ is fitted on at most this many samples (evenly strided)


@dataclass(frozen=True)
class ClippedEnds:
    """Which ends of the [0,1] range an observation was clipped at, and the fraction on each."""

    low: float  # the fraction of samples at exactly 0
    high: float  # the fraction at exactly 1
    samples: int  # the finite samples counted

    def _clipped(self, fraction: float) -> bool:
        return fraction >= CLIPPED_FRACTION and fraction * self.samples >= CLIPPED_SAMPLES

    @property
    def at_low(self) -> bool:
        return self._clipped(self.low)

    @property
    def at_high(self) -> bool:
        return self._clipped(self.high)

    @property
    def clipped(self) -> bool:
        return self.at_low or self.at_high


def clipped_ends(observation: np.ndarray) -> ClippedEnds:
    """The fractions of an observation's finite samples at exactly 0 and exactly 1."""
    values = np.asarray(observation)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return ClippedEnds(0.0, 0.0, 0)
    return ClippedEnds(float(np.mean(finite <= 0)), float(np.mean(finite >= 1)), finite.size)


def clipped_mean(x: np.ndarray, sigma: float, ends: ClippedEnds) -> np.ndarray:
    """E[clip(x + σz)] for z ~ N(0,1), clipped at the ends that `ends` says were clipped."""
    x = np.asarray(x, np.float64)
    mean = x.copy()
    if ends.at_low:  # what the clip at 0 adds
        mean += _shortfall(x, sigma)
    if ends.at_high:  # and what the clip at 1 takes away
        mean -= _shortfall(1 - x, sigma)
    return mean


def unclipped(mean: np.ndarray, sigma: float, ends: ClippedEnds) -> np.ndarray:
    """The signal x whose clipped mean is `mean` (μ is increasing), unbounded: below 0 where the
    mean is lower than a zero signal's."""
    grid = np.linspace(-6 * sigma, 1 + 6 * sigma, _TABLE)
    return np.interp(np.asarray(mean, np.float64), clipped_mean(grid, sigma, ends), grid)


def unclip(mean: np.ndarray, sigma: float, ends: ClippedEnds) -> np.ndarray:
    """Foi's inverse: the signal in [0,1] whose clipped noisy observation has mean `mean`."""
    return np.clip(unclipped(mean, sigma, ends), 0.0, 1.0)


def clipped_sigma(observation: np.ndarray, mean: np.ndarray, ends: ClippedEnds) -> float:
    """The σ of the noise before the clip: the maximum of the censored (Tobit) likelihood of the
    observation, the signal being `mean` (an estimate of each sample's clipped mean) unclipped."""
    y = np.asarray(observation, np.float64).ravel()
    m = np.asarray(mean, np.float64).ravel()
    keep = np.isfinite(y) & np.isfinite(m)
    y, m = y[keep], m[keep]
    stride = max(1, y.size // _MAX_SAMPLES)
    y, m = y[::stride], m[::stride]
    low = (y <= 0) if ends.at_low else np.zeros(y.shape, bool)
    high = (y >= 1) if ends.at_high else np.zeros(y.shape, bool)
    inside = ~(low | high)

    def minus_log_likelihood(log_sigma: float) -> float:
        sigma = float(np.exp(log_sigma))
        x = unclipped(m, sigma, ends)
        z = (y[inside] - x[inside]) / sigma
        return float(np.sum(0.5 * z * z) + inside.sum() * log_sigma
                     - np.sum(log_ndtr(-x[low] / sigma)) - np.sum(log_ndtr((x[high] - 1) / sigma)))

    lo, hi = np.log(_SIGMA_BOUNDS)
    found = minimize_scalar(minus_log_likelihood, bounds=(lo, hi), method="bounded",
                            options={"xatol": 1e-4})
    return float(np.exp(found.x))


def _shortfall(distance: np.ndarray, sigma: float) -> np.ndarray:
    """E[max(-(d + σz), 0)]: how far below an end the noise takes a sample `distance` above it, on
    average (the part a clip at that end puts back)."""
    t = distance / sigma
    return sigma * np.exp(-0.5 * t * t) / np.sqrt(2 * np.pi) - distance * ndtr(-t)
