"""JPEG: 8-bit gray or RGB with Pillow, keeping the ICC profile, EXIF, resolution and comment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage

from dipbatch.io.formats.format import Decoded, Format, Hdu
from dipbatch.io.pixels import check_pixels
from dipbatch.io.samples import Source, from_unit, interleave


def _read(p: Path, hdu: Hdu, max_pixels: int) -> Decoded:
    with PILImage.open(p) as im:
        check_pixels(p, (im.height, im.width), max_pixels)
        im.load()
        info = dict(im.info)
        meta: dict[str, Any] = {}
        if im.mode not in ("L", "RGB"):
            im = im.convert("RGB")  # CMYK and the like: their ICC profile no longer applies
        elif info.get("icc_profile"):
            meta["icc_profile"] = info["icc_profile"]
        arr = np.asarray(im)
    if info.get("exif"):
        exif = info["exif"]
        meta["exif"] = exif if exif.startswith(b"Exif\0\0") else b"Exif\0\0" + exif
    if info.get("dpi"):
        meta["resolution"] = tuple(float(v) for v in info["dpi"])
        meta["resolution_unit"] = "inch"
    if info.get("comment"):
        meta["description"] = info["comment"].decode("utf-8", "replace")
    colour = arr[None] if arr.ndim == 2 else np.ascontiguousarray(np.moveaxis(arr, -1, 0))
    return Decoded(colour, None, meta)


def _size(p: Path, hdu: Hdu) -> tuple[int, int]:
    with PILImage.open(p) as im:
        return im.height, im.width


def _encode(tmp: Path, stored: np.ndarray, source: Source) -> None:
    im = PILImage.fromarray(stored[0] if stored.shape[0] == 1 else interleave(stored, None))
    meta = source.metadata
    options: dict[str, Any] = {"quality": 95, "subsampling": 0}
    if meta.get("icc_profile"):
        options["icc_profile"] = meta["icc_profile"]
    if meta.get("exif"):
        exif = meta["exif"]
        options["exif"] = exif if exif.startswith(b"Exif\0\0") else b"Exif\0\0" + exif
    res, unit = meta.get("resolution"), meta.get("resolution_unit", "inch")
    if res and unit in ("inch", "cm"):
        factor = 2.54 if unit == "cm" else 1.0
        options["dpi"] = (round(res[0] * factor), round(res[1] * factor))
    if meta.get("description"):
        options["comment"] = meta["description"].encode("utf-8")
    im.save(tmp, format="JPEG", **options)


def _write(tmp: Path, data: np.ndarray, lo: float, hi: float, name: str, alpha: np.ndarray | None,
           source: Source, history: str | None) -> None:
    _encode(tmp, from_unit(data, lo, hi, name), source)


FORMAT = Format("jpeg", "JPEG", (".jpg", ".jpeg"), ("uint8",),
                lambda head, ours: head.startswith(b"\xff\xd8\xff"), _size, _read, _write,
                channels=(1, 3), alpha=False)
