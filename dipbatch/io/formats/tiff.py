"""TIFF with tifffile (and imagecodecs for its compressions): any sample type, any number of samples,
alpha and extra samples, description, resolution and ICC profile; written zlib-compressed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dipbatch.errors import DipbatchError
from dipbatch.io.formats.format import Decoded, Format, Hdu
from dipbatch.io.pixels import check_pixels
from dipbatch.io.samples import Source, from_unit, interleave

_TIFF_UNITS = {1: "none", 2: "inch", 3: "cm"}


def _read(p: Path, hdu: Hdu, max_pixels: int) -> Decoded:
    import tifffile

    with tifffile.TiffFile(p) as tif:
        page = tif.pages[0]
        samples = {"samples": page.samplesperpixel, "bits": page.bitspersample}
        check_pixels(p, (page.imagedepth, page.imagelength, page.imagewidth), max_pixels, **samples)
        if page.is_tiled:  # each tile is decoded whole, whatever the image's size
            check_pixels(p, (page.tiledepth, page.tilelength, page.tilewidth), max_pixels, "TIFF tile",
                         **samples)
        try:
            arr = page.asarray()
        except ValueError as exc:
            if "imagecodecs" in str(exc):
                raise DipbatchError(p, f"this TIFF's compression ({page.compression.name}) needs "
                                       "the imagecodecs package: pip install imagecodecs") from None
            raise
        sep, depth = page.shaped[:2]
        if depth != 1:
            raise DipbatchError(p, "volumetric (3-D) TIFF images are not supported")
        arr = arr.reshape(page.shaped)[:, 0]
        colour = arr[..., 0] if sep > 1 else np.moveaxis(arr[0], -1, 0)
        photometric = int(page.photometric)
        if photometric == 3 and page.colormap is not None:  # palette
            colour = page.colormap[:, colour[0]]
        if colour.dtype == bool:
            colour = colour.astype(np.uint8) * np.uint8(255)
        if colour.dtype.kind not in "uif":
            raise DipbatchError(p, f"unsupported TIFF sample type {colour.dtype}")
        base = 3 if photometric in (2, 6) and colour.shape[0] >= 3 else 1
        extras = [int(e) for e in page.extrasamples][: max(colour.shape[0] - base, 0)]
        alpha, meta = None, dict[str, Any]()
        slot = next((i for i, e in enumerate(extras) if e in (1, 2)), None)
        if slot is not None:
            alpha = colour[base + slot].copy()
            colour = np.delete(colour, base + slot, axis=0)
            if extras[slot] == 1:
                meta["alpha_associated"] = True
        tags = page.tags
        desc = tags.get(270)
        if desc is not None and desc.value and not tif.is_shaped:
            value = desc.value
            meta["description"] = value.decode("utf-8", "replace") if isinstance(
                value, bytes) else str(value)
        xres, yres, unit = tags.get(282), tags.get(283), tags.get(296)
        unit_code = int(unit.value) if unit is not None else 2
        if xres is not None and yres is not None:
            res = tuple(float(t.value[0]) / float(t.value[1] or 1) for t in (xres, yres))
            if not (res == (1.0, 1.0) and unit_code == 1):  # tifffile's placeholder
                meta["resolution"] = res
                meta["resolution_unit"] = _TIFF_UNITS.get(unit_code, "none")
        icc = tags.get(34675)
        if icc is not None:
            meta["icc_profile"] = bytes(icc.value)
    return Decoded(np.ascontiguousarray(colour.astype(colour.dtype.newbyteorder("="))), alpha, meta)


def _size(p: Path, hdu: Hdu) -> tuple[int, int]:
    import tifffile

    with tifffile.TiffFile(p) as tif:
        page = tif.pages[0]
        return int(page.imagelength), int(page.imagewidth)


def _encode(tmp: Path, stored: np.ndarray, alpha: np.ndarray | None, source: Source) -> None:
    import tifffile

    channels = stored.shape[0]
    meta = source.metadata
    rgb = channels == 3 and source.layout != "multi"
    options: dict[str, Any] = {"photometric": "rgb" if rgb else "minisblack",
                               "metadata": None, "compression": "zlib"}
    if stored.dtype.kind in "iu":
        options["predictor"] = True
    extras = ["unspecified"] * (channels - (3 if rgb else 1))
    if alpha is not None:
        extras.append("assocalpha" if meta.get("alpha_associated") else "unassalpha")
    arr = stored[0] if channels == 1 and alpha is None else interleave(stored, alpha)
    if extras:
        options.update(extrasamples=extras, planarconfig="contig")
    if meta.get("description"):
        text = meta["description"]
        options["description"] = text if text.isascii() else text.encode("utf-8")
    res, unit = meta.get("resolution"), meta.get("resolution_unit", "inch")
    if res:
        options["resolution"] = (float(res[0]), float(res[1]))
        options["resolutionunit"] = {"inch": "INCH", "cm": "CENTIMETER"}.get(unit, "NONE")
    if meta.get("icc_profile"):
        options["iccprofile"] = bytes(meta["icc_profile"])
    tifffile.imwrite(tmp, arr, **options)


def _write(tmp: Path, data: np.ndarray, lo: float, hi: float, name: str, alpha: np.ndarray | None,
           source: Source, history: str | None) -> None:
    _encode(tmp, from_unit(data, lo, hi, name), alpha, source)


FORMAT = Format("tiff", "TIFF", (".tif", ".tiff"),
                ("uint8", "uint16", "uint32", "int8", "int16", "int32", "float16", "float32", "float64"),
                lambda head, ours: head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"), _size, _read, _write)
