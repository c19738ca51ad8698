"""Synthetic test scenes and noise, made with a fixed seed: tests, benchmarks and the demo use them."""

from __future__ import annotations

import numpy as np


def scene(height: int = 64, width: int = 64, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A piecewise-smooth scene in [0,1], CHW float32: gradients, discs and bars."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy /= max(height - 1, 1)
    xx /= max(width - 1, 1)
    planes = []
    for _ in range(channels):
        a, b, c = rng.uniform(0.2, 0.6, 3)
        plane = 0.25 + 0.3 * (a * xx + b * yy) + 0.1 * np.sin(2 * np.pi * c * 3 * xx)
        for _ in range(3):
            cy, cx = rng.uniform(0.2, 0.8, 2)
            r = rng.uniform(0.1, 0.25)
            plane = np.where((yy - cy) ** 2 + (xx - cx) ** 2 < r * r, rng.uniform(0.1, 0.9), plane)
        bar = (np.abs(xx - rng.uniform(0.3, 0.7)) < 0.06) & (yy > 0.5)
        plane = np.where(bar, rng.uniform(0.0, 1.0), plane)
        planes.append(plane)
    return np.clip(np.stack(planes), 0.0, 1.0).astype(np.float32)


def star_field(height: int = 64, width: int = 64, stars: int = 12, background: float = 20.0,
               peak: float = 400.0, seed: int = 0) -> np.ndarray:
    """A 1×H×W field of Gaussian stars on a flat sky, in expected photon counts (float32)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    field = np.full((height, width), background, dtype=np.float32)
    for _ in range(stars):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        amp = peak * rng.uniform(0.1, 1.0)
        s = rng.uniform(1.0, 2.5)
        field += amp * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return field[None].astype(np.float32)


def add_gaussian_noise(clean: np.ndarray, sigma: float, seed: int = 0, clip: bool = True) -> np.ndarray:
    """Add N(0, sigma²) noise (sigma on the [0,1] scale); clip to [0,1] as the paper does."""
    rng = np.random.default_rng(seed)
    noisy = clean + rng.normal(0.0, sigma, clean.shape).astype(np.float32)
    return np.clip(noisy, 0.0, 1.0) if clip else noisy


def add_poisson_noise(counts: np.ndarray, seed: int = 0) -> np.ndarray:
    """Draw Poisson counts with the given expectation."""
    rng = np.random.default_rng(seed)
    return rng.poisson(np.maximum(counts, 0)).astype(np.float32)
