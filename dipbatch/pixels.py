"""The pixel limit every reader applies to a header before it decodes a byte (decompression bombs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dipbatch.errors import FieldError

#: The most pixels an input may have (height × width, times the planes of a FITS cube or a 3-D
#: TIFF), read from the header before anything is decoded: Pillow's own refusal (twice its
#: MAX_IMAGE_PIXELS), for every format alike. `max_pixels` (--max-pixels) changes it.
DEFAULT_MAX_PIXELS = 178_956_970


def check_pixels(path: Path, shape: tuple[int, ...], max_pixels: int, what: str = "image") -> None:
    """Refuse a header whose `shape` (its pixel axes) holds more than `max_pixels` pixels."""
    sizes = [int(n) for n in shape]
    pixels = int(np.prod(sizes, dtype=object))
    while len(sizes) > 2 and sizes[0] == 1:
        sizes.pop(0)
    if pixels > max_pixels:
        raise FieldError(path, f"{what} too large: {'×'.join(map(str, sizes))} = "
                                  f"{pixels:,} pixels, over the limit of {max_pixels:,} "
                                  "(`max_pixels`)")
