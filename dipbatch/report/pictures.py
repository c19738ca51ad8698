"""Pictures for the report: display scaling, thumbnails and the most detailed crop, encoded by pillow."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image as PILImage

#: Below this spread of values (on the [0,1] scale) an image is stretched for display: a star field
#: that uses a few percent of its 16-bit range would otherwise show as black.
STRETCH_BELOW = 0.5


def display_window(data: np.ndarray) -> tuple[float, float]:
    """The value range (lo, hi) shown from black to white: [0, 1], or the 0.5–99.8 percentiles
    when the image uses less than half of its range."""
    finite = np.asarray(data, np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(finite, [0.5, 99.8]))
    if hi - lo >= STRETCH_BELOW or hi <= lo:
        return 0.0, 1.0
    return lo, hi


def to_display(data: np.ndarray, window: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """An H×W (gray) or H×W×3 (colour) uint8 array of a C×H×W image; alpha and extra planes are dropped,
    NaN shows as black."""
    data = np.asarray(data, np.float64)
    planes = data[:3] if data.shape[0] >= 3 else data[:1]
    lo, hi = window
    scaled = np.clip((np.nan_to_num(planes, nan=lo) - lo) / (hi - lo), 0.0, 1.0)
    pixels = np.round(scaled * 255).astype(np.uint8)
    return pixels[0] if pixels.shape[0] == 1 else np.moveaxis(pixels, 0, -1)


def detailed_window(data: np.ndarray, size: int) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the size×size window with the most gradient energy.

    The energy is the squared gradient of the channel mean, summed over the window with an
    integral image, so the search costs O(H·W) whatever the window size.
    """
    gray = np.nan_to_num(np.asarray(data, np.float64)).mean(axis=0)
    height, width = gray.shape
    h, w = min(size, height), min(size, width)
    energy = np.zeros_like(gray)
    energy[:, :-1] += np.diff(gray, axis=1) ** 2
    energy[:-1, :] += np.diff(gray, axis=0) ** 2
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = integral[h:, w:] - integral[:-h, w:] - integral[h:, :-w] + integral[:-h, :-w]
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(top), int(left), h, w


def crop(pixels: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
    top, left, h, w = window
    return pixels[top:top + h, left:left + w]


def shrink(pixels: np.ndarray, longest: int) -> np.ndarray:
    """The picture scaled down (never up) so that its longer side is at most `longest` pixels."""
    height, width = pixels.shape[:2]
    factor = longest / max(height, width)
    if factor >= 1:
        return pixels
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(PILImage.fromarray(pixels).resize(size, PILImage.Resampling.LANCZOS))


def encode_png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def encode_jpeg(pixels: np.ndarray, quality: int = 88) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def png_size(payload: bytes) -> tuple[int, int]:
    """(width, height) of an encoded picture."""
    with PILImage.open(io.BytesIO(payload)) as picture:
        return picture.size
