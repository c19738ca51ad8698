"""Images as dipbatch holds them between reading and writing: colour channels as float32 C×H×W on a
[0,1] scale, (stored - lo) / (hi - lo), and the `Source` that keeps how to store them again (format,
sample type, value range, layout, alpha plane, metadata); and the conversions of stored samples to
and from that scale, which every format shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Source:
    """Where an image came from and how to store it again."""

    path: str
    format: str
    dtype: str
    value_range: tuple[float, float]
    layout: str
    alpha: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    height: int = 0
    width: int = 0

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return (self.height, self.width)


@dataclass
class Image:
    """Colour channels as float32 C×H×W, (stored - lo) / (hi - lo), plus where they came from."""

    data: np.ndarray
    source: Source


def layout_of(channels: int, has_alpha: bool) -> str:
    base = {1: "gray", 3: "rgb"}.get(channels, "multi")
    return base + "+alpha" if has_alpha and base != "multi" else base


def dtype_range(dtype: np.dtype | str) -> tuple[float, float]:
    info = np.iinfo(np.dtype(dtype))
    return float(info.min), float(info.max)


def finite_range(stored: np.ndarray) -> tuple[float, float]:
    finite = stored[np.isfinite(stored)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return (lo, lo + 1.0) if hi == lo else (lo, hi)


def from_unit(data: np.ndarray, lo: float, hi: float, name: str) -> np.ndarray:
    stored = lo + data.astype(np.float64) * (hi - lo)
    dtype = np.dtype(name)
    if dtype.kind == "f":
        return stored.astype(dtype)
    dlo, dhi = dtype_range(dtype)
    stored = np.where(np.isnan(stored), 0.0, stored)
    return np.clip(np.rint(stored), dlo, dhi).astype(dtype)


def convert_alpha(alpha: np.ndarray, name: str) -> np.ndarray:
    """Alpha in the output sample type: unchanged when the type matches, else rescaled."""
    if alpha.dtype.name == name:
        return alpha
    unit = alpha.astype(np.float64) / (1.0 if alpha.dtype.kind == "f" else np.iinfo(alpha.dtype).max)
    if np.dtype(name).kind == "f":
        return unit.astype(name)
    return np.rint(np.clip(unit, 0.0, 1.0) * np.iinfo(np.dtype(name)).max).astype(name)


def interleave(stored: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    planes = list(stored) + ([alpha] if alpha is not None else [])
    return np.ascontiguousarray(np.stack(planes, axis=-1))
