"""Bad samples to leave out of the fit: hot pixels and cosmic rays, from a mask file or a sigma clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import median_filter

from dipbatch.astro.stretch import MAD_TO_SIGMA
from dipbatch.errors import DipbatchError
from dipbatch.io.images import read_image

# A bad sample must stand this many times further off its 3×3 median than that median stands off
# the 7×7 median around it (L.A.Cosmic's fine-structure test, its objlim): a star's core is smooth
# at this scale, while a hot pixel or cosmic-ray hit on the sky is not.
FINE_STRUCTURE_LIMIT = 5.0


def sigma_clip_mask(stored: np.ndarray, k: float) -> np.ndarray:
    """C×H×W samples more than k sigmas off their 3×3 median and sharper than a star (True = bad).

    `stored` are the frame's values in its own units, zero meaning no light: sigma is the sky's
    (robust, from the residuals), grown as photon noise, sqrt(level / sky), on brighter ground.
    A dark outlier counts only below the sky (a dead pixel, not a gap between two stars).
    """
    return np.stack([_clip_plane(plane, k) for plane in np.asarray(stored, np.float64)])


def _clip_plane(plane: np.ndarray, k: float) -> np.ndarray:
    finite = np.isfinite(plane)
    bad = np.zeros(plane.shape, bool)
    if not finite.any():
        return bad
    sky = float(np.median(plane[finite]))
    filled = np.where(finite, plane, sky)
    local = median_filter(filled, size=3, mode="reflect")
    residual = filled - local
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(residual[finite])))
    sigma = sigma or float(np.std(residual[finite])) or 1.0
    rows, cols = np.nonzero((np.abs(residual) > k * sigma) & finite)
    if rows.size:  # only the candidates need the 7×7 median and their own noise level
        r, level = residual[rows, cols], local[rows, cols]
        around = sliding_window_view(np.pad(local, 3, mode="reflect"), (7, 7))[rows, cols]
        fine = level - np.median(around, axis=(-2, -1))
        noise = sigma * np.sqrt(np.maximum(1.0, level / sky)) if sky > 0 else sigma
        sharp = (np.abs(r) > k * noise) & (np.abs(r) > FINE_STRUCTURE_LIMIT * np.abs(fine))
        bad[rows, cols] = sharp & ((r > 0) | (filled[rows, cols] < sky - k * sigma))  # cold: below sky
    return bad


def read_bad_pixels(path: str | Path, size: tuple[int, int]) -> np.ndarray:
    """H×W mask from an image file: a pixel whose stored value is not zero (in any channel) is bad."""
    mask = read_image(path)
    if mask.source.size != tuple(size):
        (h, w), (mh, mw) = size, mask.source.size
        raise DipbatchError(path, f"the bad-pixel mask is {mh}×{mw} but the image is {h}×{w}")
    lo, hi = mask.source.value_range
    stored = lo + mask.data.astype(np.float64) * (hi - lo)
    return np.any(~(np.abs(stored) <= 1e-6 * (hi - lo)), axis=0)  # NaN counts as bad
