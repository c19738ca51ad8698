"""FITS reading and writing for `dipbatch.io.images`, with astropy (the optional `astro` extra).

Raw samples are read unscaled and BZERO/BSCALE/BLANK are applied here, so that integer data keep
their exact stored values: an integer image's [0,1] scale spans the whole range of its BITPIX type
(through BZERO/BSCALE), and writing the same dtype back gives the same raw integers and keywords.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from dipbatch.errors import DipbatchError
from dipbatch.io.formats.format import Decoded, Format
from dipbatch.io.pixels import check_pixels
from dipbatch.io.samples import Source

# (raw BITPIX type, BZERO) that FITS uses for each dtype, unsigned types through an offset.
_RAW = {"uint8": ("uint8", 0), "int8": ("uint8", -128), "int16": ("int16", 0),
        "uint16": ("int16", 1 << 15), "int32": ("int32", 0), "uint32": ("int32", 1 << 31),
        "int64": ("int64", 0), "uint64": ("int64", 1 << 63)}
_OFFSET_TYPES = {(raw, zero): name for name, (raw, zero) in _RAW.items() if zero}
_STRUCTURAL = ("SIMPLE", "XTENSION", "BITPIX", "EXTEND", "PCOUNT", "GCOUNT", "BSCALE", "BZERO",
               "BLANK", "CHECKSUM", "DATASUM")


def _fits(path: Path):
    try:
        from astropy.io import fits
    except ImportError:
        raise DipbatchError(path, "FITS needs the astro extra: pip install 'dipbatch[astro]'") \
            from None
    return fits


@contextlib.contextmanager
def _quiet():
    """Keep astropy's warnings about odd headers or short files off the terminal."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _image_shape(header, path: Path) -> tuple[int, ...]:
    """The data shape in numpy order, leading length-1 axes dropped down to 2-D."""
    shape = [int(header[f"NAXIS{i}"]) for i in range(int(header.get("NAXIS", 0)), 0, -1)]
    while len(shape) > 2 and shape[0] == 1:
        shape.pop(0)
    if len(shape) < 2:
        raise DipbatchError(path, f"FITS data with {len(shape)} axis is not an image")
    if len(shape) > 3:
        raise DipbatchError(path, f"FITS data with {len(shape)} axes of more than one plane "
                                  "is not supported")
    return tuple(shape)


def _has_image(h) -> bool:
    naxis = int(h.header.get("NAXIS", 0))
    return bool(h.is_image) and naxis >= 2 and all(
        int(h.header.get(f"NAXIS{i}", 0)) > 0 for i in range(1, naxis + 1))


def _select(hdul, hdu: int | str | None, path: Path):
    if hdu is None:
        for index, h in enumerate(hdul):
            if _has_image(h):
                return index, h
        raise DipbatchError(path, "no HDU in this FITS file holds image data")
    try:
        h = hdul[hdu]
    except (KeyError, IndexError):
        names = ", ".join(f"{i} ({h.name})" for i, h in enumerate(hdul))
        raise DipbatchError(path, f"no HDU {hdu!r}; this file has {names}") from None
    if not _has_image(h):
        raise DipbatchError(path, f"HDU {hdu!r} holds no image data")
    return hdu, h


def _size(path: Path, hdu: int | str | None = None) -> tuple[int, int]:
    fits = _fits(path)
    with _quiet(), fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
        shape = _image_shape(_select(hdul, hdu, path)[1].header, path)
    return shape[-2], shape[-1]


def _read(path: Path, hdu: int | str | None, max_pixels: int) -> Decoded:
    """The stored values (C×H×W float64), with their sample type's name, value range and layout."""

    fits = _fits(path)
    with _quiet(), fits.open(path, memmap=False, do_not_scale_image_data=True) as hdul:
        index, h = _select(hdul, hdu, path)
        header = h.header.copy()
        shape = _image_shape(header, path)
        check_pixels(path, shape, max_pixels, bits=abs(int(header.get("BITPIX", 8))))  # before reading
        raw = np.asarray(h.data)
    raw = raw.reshape(shape)
    raw = raw[None] if raw.ndim == 2 else raw
    zero, scale = float(header.get("BZERO", 0.0)), float(header.get("BSCALE", 1.0))
    stored = raw.astype(np.float64)  # native byte order
    if raw.dtype.kind == "f":
        dtype = raw.dtype.name
        if (zero, scale) != (0.0, 1.0):
            stored = zero + scale * stored
        finite = stored[np.isfinite(stored)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        hi = lo + 1.0 if hi == lo else hi
    else:
        info = np.iinfo(raw.dtype)
        dtype = _OFFSET_TYPES.get((raw.dtype.name, int(zero)), raw.dtype.name) \
            if scale == 1.0 and float(zero).is_integer() else raw.dtype.name
        lo, hi = sorted((zero + scale * info.min, zero + scale * info.max))
        blank = header.get("BLANK")
        if (zero, scale) != (0.0, 1.0):
            stored = zero + scale * stored
        if blank is not None:
            stored[raw == int(blank)] = np.nan
    layout = "gray" if stored.shape[0] == 1 else "multi"
    meta: dict[str, Any] = {"fits_header": header, "fits_hdu": index}
    if raw.dtype.kind == "f":
        meta["fits_values"] = stored.astype(dtype)  # what `write` gives back bit for bit
    return Decoded(stored, None, meta, (lo, hi), layout, dtype)


def _unchanged_kept(stored: np.ndarray, name: str, source: Source) -> np.ndarray:
    """Float samples within the [0,1] scale's float32 rounding of the input's are the input's.

    The [0,1] scale holds 24 bits, so a float frame read and written unchanged would come back
    within (hi - lo) / 2**24 of its values, not bit for bit; the input's own values are put back.
    """
    values = source.metadata.get("fits_values")
    if name != source.dtype or values is None or values.shape != stored.shape:
        return stored
    lo, hi = source.value_range
    with np.errstate(invalid="ignore"):
        same = np.abs(stored - values) <= (hi - lo) * 2.0 ** -23
    return np.where(same, values, stored)


def _encode(tmp: Path, stored: np.ndarray, name: str, source: Source, history: str | None) -> None:
    """Write stored values (C×H×W float64) as a single-HDU FITS file of sample type `name`."""
    fits = _fits(tmp)
    old = source.metadata.get("fits_header")
    header = old.copy() if old is not None else fits.Header()
    checksum = old is not None and "CHECKSUM" in old
    for key in list(header.keys()):
        if key in _STRUCTURAL or (key.startswith("NAXIS") and key[5:].isdigit()) or key == "NAXIS":
            header.remove(key, ignore_missing=True, remove_all=True)
    keywords: dict[str, float] = {}
    if np.dtype(name).kind == "f":
        raw = _unchanged_kept(stored, name, source).astype(name)
    else:
        raw_type, offset = _RAW[name]
        zero, scale = float(offset), 1.0
        blank = None
        if old is not None and name == source.dtype:
            hz, hs = float(old.get("BZERO", 0.0)), float(old.get("BSCALE", 1.0))
            if np.dtype(raw_type).itemsize * 8 == abs(int(old.get("BITPIX", 0))):
                zero, scale = hz, hs
            blank = old.get("BLANK")
        nan = np.isnan(stored)
        values = np.rint((np.where(nan, 0.0, stored) - zero) / scale)
        info = np.iinfo(raw_type)
        raw = np.clip(values, info.min, info.max).astype(raw_type)
        if blank is not None:
            raw[nan] = int(blank)
            keywords["BLANK"] = int(blank)
        if (zero, scale) != (0, 1):
            keywords = {"BSCALE": scale, "BZERO": zero, **keywords}
    raw = raw[0] if raw.shape[0] == 1 else raw
    hdu = fits.PrimaryHDU(raw, header=header, do_not_scale_image_data=True)
    for key, value in keywords.items():
        hdu.header[key] = int(value) if float(value).is_integer() else value
    if history:
        hdu.header.add_history(history)
    with _quiet():
        hdu.writeto(tmp, overwrite=True, output_verify="silentfix+ignore", checksum=checksum)


def _write(tmp: Path, data: np.ndarray, lo: float, hi: float, name: str, alpha: np.ndarray | None,
           source: Source, history: str | None) -> None:
    _encode(tmp, lo + data.astype(np.float64) * (hi - lo), name, source, history)


def _sniff(head: bytes, ours: bool) -> bool:
    """A FITS header, or a gzip stream under a FITS suffix (.fits.gz)."""
    return head.startswith(b"SIMPLE  =") or (head.startswith(b"\x1f\x8b") and ours)


FORMAT = Format("fits", "FITS", (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz"),
                ("uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "float32", "float64"),
                _sniff, _size, _read, _write, alpha=False, any_range=True)
