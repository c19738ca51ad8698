"""The file formats dipbatch reads and writes, one module each (`png`, `jpeg`, `tiff`, `fits`), in one
table: adding a format is one module holding its `Format` record and one line here."""

from __future__ import annotations

from pathlib import Path

from dipbatch.io.formats import fits, jpeg, png, tiff
from dipbatch.io.formats.format import Decoded, Format

#: Every format, in the order of their suffixes (discovery's default patterns) and of sniffing.
FORMATS: tuple[Format, ...] = (png.FORMAT, jpeg.FORMAT, tiff.FORMAT, fits.FORMAT)
#: The suffixes dipbatch can read and write, in a fixed order (discovery's default patterns).
IMAGE_SUFFIXES: tuple[str, ...] = tuple(s for f in FORMATS for s in f.suffixes)

__all__ = ["FORMATS", "IMAGE_SUFFIXES", "Decoded", "Format", "by_suffix", "suffix_of"]


def suffix_of(path: Path) -> str:
    """The suffix that decides a file's format: the longest known one its name ends with (.fits.gz),
    else its last suffix."""
    name = path.name.lower()
    known = [s for s in IMAGE_SUFFIXES if name.endswith(s)]
    return max(known, key=len) if known else path.suffix.lower()


def by_suffix(path: Path) -> Format | None:
    """The format a file's name says it holds; None for a suffix no format has."""
    suffix = suffix_of(path)
    return next((f for f in FORMATS if suffix in f.suffixes), None)
