"""Frame sequences on disk: a folder of frames in natural order, checked before any work is done."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from pathlib import Path

from dipbatch.errors import DipbatchError
from dipbatch.io.filenames import is_skipped, natural_key
from dipbatch.io.images import Image, has_image_suffix, read_image

_LAST_NUMBER = re.compile(r"^(.*?)(\d+)(\D*)$")


def list_frames(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, in natural order (frame_2 before frame_10)."""
    if not folder.is_dir():
        raise DipbatchError(folder, "no such folder of frames" if not folder.exists() else
                            "is neither a folder of frames nor a video file")
    frames = [p for p in folder.iterdir()
              if p.is_file() and not is_skipped(p.name) and has_image_suffix(p.name)]
    if not frames:
        raise DipbatchError(folder, "holds no frames (PNG, JPEG, TIFF or FITS images)")
    return sorted(frames, key=lambda p: natural_key(p.name))


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def numbering_gaps(names: Sequence[str]) -> list[str]:
    """One message per place where the frame numbers of consecutive names jump by more than one.

    The number is the last run of digits in the name (without its suffix); names that differ in
    what surrounds it, or hold no number, are not compared.
    """
    gaps = []
    for before, after in itertools.pairwise(names):
        a, b = _LAST_NUMBER.match(_stem(before)), _LAST_NUMBER.match(_stem(after))
        if not (a and b) or (a[1], a[3]) != (b[1], b[3]):
            continue
        missing = int(b[2]) - int(a[2]) - 1
        if missing > 0:
            gaps.append(f"{missing} frame{'s' if missing > 1 else ''} missing between {before} and {after}")
    return gaps


def check_frames(images: Sequence[Image], names: Sequence[str], where: str | Path) -> None:
    """Every frame must have the first frame's size and channel count."""
    first = images[0].data.shape
    for image, name in zip(images, names, strict=True):
        if image.data.shape != first:
            raise DipbatchError(where, f"{name} is {_shape(image.data.shape)}, but {names[0]} is "
                                       f"{_shape(first)}; all frames of a sequence must match")


def _shape(shape: tuple[int, ...]) -> str:
    channels, height, width = shape
    return f"{width}×{height} with {channels} channel{'s' if channels > 1 else ''}"


def read_frames(paths: Sequence[Path], where: str | Path) -> list[Image]:
    """Read every frame (an unreadable one stops the sequence, naming the frame) and check sizes."""
    images = [read_image(p) for p in paths]
    check_frames(images, [p.name for p in paths], where)
    return images
