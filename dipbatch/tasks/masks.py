"""Inpainting masks: white (1) marks a known pixel, black (0) a hole to fill.

A mask comes from a mask file (gray, or one plane per colour channel) or from the image's own
alpha channel (opaque = known, transparent = hole). It must be binary: every value within
MASK_TOLERANCE of black or white, on the [0,1] scale of its sample type (so an 8-bit mask may
hold 0..25 and 230..255), which lets a lightly compressed mask through but stops a resized one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dipbatch.errors import DipbatchError
from dipbatch.io.images import Image, read_image

MASK_TOLERANCE = 0.1


def binary_mask(values: np.ndarray, where: str | Path) -> np.ndarray:
    """Known pixels (True) of a mask on the [0,1] scale; a non-binary mask is an error."""
    between = ~((values <= MASK_TOLERANCE) | (values >= 1.0 - MASK_TOLERANCE))
    if between.any():
        share = 100.0 * between.mean()
        raise DipbatchError(where, f"mask is not binary: {int(between.sum())} values ({share:.2g} %) lie "
                                   f"between {MASK_TOLERANCE:g} and {1 - MASK_TOLERANCE:g} of full scale; "
                                   "use black (hole) and white (known pixel)")
    known = values >= 0.5
    if not known.any():
        raise DipbatchError(where, "mask has no known pixel (white = known, black = hole)")
    return known


def read_mask(path: str | Path, image: Image) -> np.ndarray:
    """The known-pixel mask for `image` from a file: float32 0/1, 1×H×W or C×H×W like the image."""
    mask = read_image(path)
    where = Path(path)
    if mask.data.shape[1:] != image.data.shape[1:]:
        (mh, mw), (h, w) = mask.data.shape[1:], image.data.shape[1:]
        raise DipbatchError(where, f"mask is {mw}×{mh} pixels but the image {Path(image.source.path).name} "
                                   f"is {w}×{h}")
    channels = mask.data.shape[0]
    if channels not in (1, image.data.shape[0]):
        raise DipbatchError(where, f"mask has {channels} channels; give 1 (gray) or one per image channel "
                                   f"({image.data.shape[0]})")
    return binary_mask(mask.data, where).astype(np.float32)


def alpha_mask(image: Image) -> np.ndarray | None:
    """The known-pixel mask (1×H×W, float32 0/1) from the image's alpha channel, if it has one."""
    alpha = image.source.alpha
    if alpha is None:
        return None
    scale = 1.0 if alpha.dtype.kind == "f" else float(np.iinfo(alpha.dtype).max)
    values = alpha.astype(np.float64)[None] / scale
    return binary_mask(values, f"{image.source.path} (alpha channel)").astype(np.float32)
