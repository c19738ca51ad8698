"""The pixel limit every reader applies to a header before it decodes a byte (decompression bombs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dipbatch.errors import FieldError

#: The most pixels an input may have (height × width, times the planes of a FITS cube or a 3-D
#: TIFF), read from the header before anything is decoded: Pillow's own refusal (twice its
#: MAX_IMAGE_PIXELS), for every format alike. `max_pixels` (--max-pixels) changes it.
DEFAULT_MAX_PIXELS = 178_956_970
#: The bits one pixel may hold before it counts as more than one: four 8-bit samples (RGBA) or one
#: 32-bit sample. A pixel of 250 samples counts as 62.5, so a small header cannot ask for gigabytes.
PIXEL_BITS = 32


def check_pixels(path: Path, shape: tuple[int, ...], max_pixels: int, what: str = "image",
                 samples: int = 1, bits: int = 8) -> None:
    """Refuse a header whose `shape` (its pixel axes) of `samples` samples of `bits` bits each
    counts as more than `max_pixels` pixels (see PIXEL_BITS)."""
    sizes = [int(n) for n in shape]
    pixels = int(np.prod(sizes, dtype=object))
    while len(sizes) > 2 and sizes[0] == 1:
        sizes.pop(0)
    weight = max(1.0, int(samples) * int(bits) / PIXEL_BITS)
    counted = int(pixels * weight)
    if counted > max_pixels:
        shown = f"{'×'.join(map(str, sizes))} = {pixels:,} pixels"
        if weight > 1:
            shown += f" of {samples} × {bits}-bit samples, which count as {counted:,}"
        raise FieldError(path, f"{what} too large: {shown}, over the limit of {max_pixels:,} "
                               "(`max_pixels`)")
