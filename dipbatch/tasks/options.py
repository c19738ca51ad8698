"""The options that some tasks take (each task reads only its own), and the tasks' shared constants."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NOISES = ("gaussian", "poisson", "poisson-gaussian")
DEFAULT_FACTOR = 4


@dataclass(frozen=True)
class TaskOptions:
    """Options that some tasks take; each task reads only its own."""

    kind: str = "denoise"  # one of TASKS
    net: str | None = None  # None: the preset's own generator
    factor: int | None = None  # sr: 2, 4 or 8 (None: 4)
    mask: Path | None = None  # inpaint: white = known pixel (None: the image's alpha channel)
    guide: Path | None = None  # flash: the flash image
    psf: str | None = None  # deblur: a PSF file, or a model (gaussian:fwhm=3.2, moffat:..., disk:...)
    psf_hdu: str | None = None  # deblur: the FITS HDU of the PSF file, by index or EXTNAME
    noise: str = "gaussian"
    gain: float | None = None  # electrons per stored unit (None: FITS GAIN/EGAIN, else 1)
    offset: float | None = None  # stored value of zero light (None: 0)
    read_noise: float | None = None  # electrons RMS (None: FITS RDNOISE/READNOIS/RON, else 0)
