"""Ground-truth crops for the quality benchmarks: scikit-image's bundled photos, nothing downloaded."""

from __future__ import annotations

import numpy as np
from skimage import data
from skimage.transform import resize

from dipbatch.physics.synthetic import star_field

PHOTOS = ("astronaut", "coffee", "chelsea", "camera", "rocket", "immunohistochemistry", "cat",
          "hubble_deep_field")


def photo_crop(name: str, size: int) -> np.ndarray:
    """A size×size centre crop (of the photo shrunk to 2×size first), C×H×W float32 in [0,1]."""
    image = getattr(data, name)()
    image = image.astype(np.float32) / (255.0 if image.dtype == np.uint8 else image.max())
    if image.ndim == 2:
        image = image[..., None]
    h, w = image.shape[:2]
    scale = 2 * size / min(h, w)
    image = resize(image, (round(h * scale), round(w * scale)), anti_aliasing=True)
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    crop = image[top:top + size, left:left + size]
    return np.ascontiguousarray(np.moveaxis(crop, -1, 0)).astype(np.float32)


def star_crop(size: int) -> np.ndarray:
    """A synthetic star field scaled to [0,1] (its peak at 1)."""
    field = star_field(size, size, stars=size // 6, background=20, peak=400, seed=7)
    return (field / field.max()).astype(np.float32)
