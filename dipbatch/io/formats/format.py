"""What a file format says about itself: one record per format, which `dipbatch.io.images` reads
instead of testing the format's name. A new format is one module in `dipbatch.io.formats` holding
its record, and one line in that package's table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dipbatch.io.samples import Source

Hdu = int | str | None


@dataclass
class Decoded:
    """What a format's reader found: the stored samples (C×H×W), the alpha plane and the metadata to
    keep; and, where the format knows them better than the samples' type does, the value range, the
    layout and the sample type's name (FITS: BZERO/BSCALE)."""

    stored: np.ndarray
    alpha: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    value_range: tuple[float, float] | None = None
    layout: str | None = None
    dtype: str | None = None


#: write(tmp, data on the [0,1] scale, lo, hi, sample type name, alpha or None, source, history)
Writer = Callable[[Path, np.ndarray, float, float, str, "np.ndarray | None", Source, "str | None"], None]


@dataclass(frozen=True)
class Format:
    """A file format: its names, what it can hold, and how to recognise, measure, read and write it."""

    name: str  # png
    label: str  # PNG, in messages
    suffixes: tuple[str, ...]  # lower case; a name takes the longest that it ends with (.fits.gz)
    holds: tuple[str, ...]  # the sample types it can write
    sniff: Callable[[bytes, bool], bool]  # (the file's first 16 bytes, whether the suffix is ours)
    size: Callable[[Path, Hdu], tuple[int, int]]  # (height, width) from the header alone
    read: Callable[[Path, Hdu, int], Decoded]  # (path, hdu, max_pixels): refuses a bomb first
    write: Writer
    channels: tuple[int, ...] | None = None  # the colour channel counts it can hold (None: any)
    alpha: bool = True  # it keeps an alpha plane
    any_range: bool = False  # it stores any value range in integer samples (FITS: BZERO, BSCALE)
