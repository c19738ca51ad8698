"""Stretches of linear high-dynamic-range data into the fit's [0,1] scale, with exact inverses.

A stretch is fitted once per frame (so every tile of a frame shares it): a percentile window
[lo, hi] of the finite samples, and for `asinh` the sky level and a softening width beta = 4 sigma
of the sky. Values are on the image's [0,1] scale (`dipbatch.io.images`) in and out; the sidecar records them
in stored units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

Values = TypeVar("Values", np.ndarray, torch.Tensor)

STRETCHES = ("none", "linear", "asinh")
WINDOW_PERCENTILES = (0.5, 99.99)  # DIPL's window for HST frames; samples above it pass through
BETA_SIGMAS = 4.0  # asinh turns logarithmic this many sky sigmas above (or below) the sky
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Stretch:
    """y = (g(x) - g(lo)) / (g(hi) - g(lo)) with g(x) = x (linear) or asinh((x - sky) / beta)."""

    kind: str
    lo: float
    hi: float
    sky: float = 0.0
    beta: float = 1.0

    def _g(self, x: np.ndarray | float) -> np.ndarray:
        x = np.asarray(x, np.float64)
        return x if self.kind == "linear" else np.arcsinh((x - self.sky) / self.beta)

    @property
    def _ends(self) -> tuple[float, float]:
        return float(self._g(self.lo)), float(self._g(self.hi))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Image scale to fit scale: lo -> 0, hi -> 1, not clipped (float64)."""
        g0, g1 = self._ends
        return (self._g(x) - g0) / (g1 - g0)

    def inverse(self, y: Values) -> Values:
        """Fit scale back to the image scale: float64 for arrays; tensors keep their type (and grad)."""
        g0, g1 = self._ends
        g = g0 + (y if isinstance(y, torch.Tensor) else np.asarray(y, np.float64)) * (g1 - g0)
        if self.kind == "linear":
            return g
        return self.sky + self.beta * (torch.sinh(g) if isinstance(g, torch.Tensor) else np.sinh(g))

    def in_units(self, value_range: tuple[float, float]) -> dict[str, float | str]:
        """The stretch in the image's stored units, for the sidecar."""
        lo, hi = value_range
        unit = {name: lo + getattr(self, name) * (hi - lo) for name in ("lo", "hi", "sky")}
        return {"kind": self.kind, **unit, "beta": self.beta * (hi - lo)}


def fit_stretch(data: np.ndarray, kind: str,
                percentiles: tuple[float, float] = WINDOW_PERCENTILES) -> Stretch:
    """The stretch of `kind` for a frame: one window for all its channels and tiles."""
    finite = data[np.isfinite(data)].astype(np.float64)
    if finite.size == 0:
        return Stretch(kind, 0.0, 1.0)
    lo, hi = (float(v) for v in np.percentile(finite, percentiles))
    if hi <= lo:  # a flat frame: any window holds it
        lo, hi = float(finite.min()), float(finite.max())
        hi = hi if hi > lo else lo + 1.0
    sky = float(np.median(finite))
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(finite - sky)))
    beta = max(BETA_SIGMAS * sigma, 1e-6 * (hi - lo))
    return Stretch(kind, lo, hi, sky, beta)
