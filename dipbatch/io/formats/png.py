"""PNG: 8 or 16 bits, gray or RGB with or without alpha, read with Pillow (up to 8 bits) or OpenCV (16
bits) after this module's own look at its chunks (the header, the metadata to keep, bombs), and
written by its own encoder (any layout, 8 or 16 bits, with its metadata chunks)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage

from dipbatch.errors import DipbatchError
from dipbatch.io.formats.format import Decoded, Format, Hdu
from dipbatch.io.pixels import check_pixels
from dipbatch.io.samples import Source, from_unit, interleave

_PNG_SIG = b"\x89PNG\r\n\x1a\n"


#: Samples per pixel by PNG colour type, as decoded (a palette becomes RGBA).
_PNG_SAMPLES = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}


#: The most a compressed PNG metadata chunk (zTXt, iTXt, iCCP) may inflate to: a 1 MB file could
#: otherwise ask for gigabytes (Pillow's own text limit is 1 MB; ICC profiles stay well below this).
PNG_METADATA_CAP = 16 << 20


def _png_chunks(buf: bytes):
    """Yield (type, body) of each chunk up to IEND, checking CRCs and that IEND is there."""
    pos = len(_PNG_SIG)
    while pos + 8 <= len(buf):
        length, kind = struct.unpack(">I4s", buf[pos:pos + 8])
        end = pos + 12 + length
        if end > len(buf):
            break
        body = buf[pos + 8:end - 4]
        if zlib.crc32(kind + body) != struct.unpack(">I", buf[end - 4:end])[0]:
            raise ValueError(f"PNG chunk {kind.decode('latin-1')} fails its CRC check")
        if kind == b"IEND":
            return
        yield kind, body
        pos = end
    raise ValueError("PNG data ends before its IEND chunk")


class _MetadataBomb(ValueError):
    """A PNG metadata chunk that inflates past PNG_METADATA_CAP."""


def _inflate(kind: bytes, data: bytes) -> bytes:
    """A metadata chunk's compressed payload, inflated up to PNG_METADATA_CAP bytes."""
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, PNG_METADATA_CAP)
    if inflater.unconsumed_tail:
        raise _MetadataBomb(f"its {kind.decode('latin-1')} metadata chunk inflates past "
                            f"{PNG_METADATA_CAP >> 20} MiB; refused as a decompression bomb")
    return out


def _png_text(kind: bytes, body: bytes) -> tuple[str, str]:
    key, _, rest = body.partition(b"\0")
    if kind == b"tEXt":
        return key.decode("latin-1"), rest.decode("latin-1")
    if kind == b"zTXt":
        return key.decode("latin-1"), _inflate(kind, rest[1:]).decode("latin-1")
    compressed, rest = rest[0], rest[2:]  # iTXt: flag, method, language\0, translated key\0, text
    text = rest.split(b"\0", 2)[2]
    return key.decode("latin-1"), (_inflate(kind, text) if compressed else text).decode("utf-8")


def _png_metadata(buf: bytes) -> tuple[tuple[int, int, int, int], dict[str, Any]]:
    meta: dict[str, Any] = {}
    text: dict[str, str] = {}
    ihdr = None
    for kind, body in _png_chunks(buf):
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBB", body[:10])
        elif kind == b"iCCP":
            meta["icc_profile"] = _inflate(kind, body.partition(b"\0")[2][1:])
        elif kind == b"eXIf":
            meta["exif"] = b"Exif\0\0" + body
        elif kind == b"pHYs":
            x, y, unit = struct.unpack(">IIB", body)
            meta["resolution"] = (x * 0.0254, y * 0.0254) if unit == 1 else (float(x), float(y))
            meta["resolution_unit"] = "inch" if unit == 1 else "none"
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            key, value = _png_text(kind, body)
            text[key] = value
    if ihdr is None:
        raise ValueError("PNG has no IHDR chunk")
    if "Description" in text:
        meta["description"] = text.pop("Description")
    if text:
        meta["text"] = text
    return ihdr, meta


def _read(p: Path, hdu: Hdu, max_pixels: int) -> Decoded:
    buf = p.read_bytes()
    try:
        (width, height, depth, ctype), meta = _png_metadata(buf)
    except _MetadataBomb as exc:
        raise DipbatchError(p, str(exc)) from None
    check_pixels(p, (height, width), max_pixels, samples=_PNG_SAMPLES.get(ctype, 4), bits=max(depth, 8))
    if depth == 16:
        import cv2

        arr = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_UNCHANGED)
        if arr is None or arr.dtype != np.uint16:
            raise ValueError("OpenCV could not decode the 16-bit PNG")
        if arr.ndim == 2:
            arr = arr[:, :, None]
        elif ctype in (0, 4):  # gray (+alpha) comes back as BGR(A) with equal colour planes
            arr = arr[:, :, [0, 3]] if arr.shape[2] == 4 else arr[:, :, :1]
        else:
            arr = arr[:, :, [2, 1, 0, 3][:arr.shape[2]]]
    else:
        im: PILImage.Image = PILImage.open(io.BytesIO(buf))
        im.load()
        if im.mode in ("P", "PA"):
            im = im.convert("RGBA" if im.mode == "PA" or "transparency" in im.info else "RGB")
        elif im.mode not in ("L", "LA", "RGB", "RGBA"):
            im = im.convert("L" if im.mode == "1" else "RGBA")
        arr = np.asarray(im)
        arr = arr[:, :, None] if arr.ndim == 2 else arr
    has_alpha = arr.shape[2] in (2, 4)
    alpha = arr[:, :, -1].copy() if has_alpha else None
    colour = np.ascontiguousarray(np.moveaxis(arr[:, :, :-1] if has_alpha else arr, -1, 0))
    return Decoded(colour, alpha, meta)


def _size(p: Path, hdu: Hdu) -> tuple[int, int]:
    with open(p, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise ValueError("PNG has no IHDR chunk")
    width, height = struct.unpack(">II", head[16:24])
    return int(height), int(width)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_rows(rows: np.ndarray, prev: np.ndarray, bpp: int) -> bytes:
    """Filter byte rows with the per-row best of the five PNG filters (least sum of |bytes|)."""
    x = rows.astype(np.int16)
    b = np.vstack([prev[None].astype(np.int16), x[:-1]])
    a = np.zeros_like(x)
    a[:, bpp:] = x[:, :-bpp]
    c = np.zeros_like(x)
    c[:, bpp:] = b[:, :-bpp]
    pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    cand = np.stack([x, x - a, x - b, x - ((a + b) >> 1), x - paeth]).astype(np.uint8)
    best = np.abs(cand.view(np.int8).astype(np.int32)).sum(axis=2).argmin(axis=0)
    chosen = cand[best, np.arange(len(rows))]
    return np.hstack([best.astype(np.uint8)[:, None], chosen]).tobytes()


def _png_idat(arr: np.ndarray) -> bytes:
    height, _, channels = arr.shape
    rows = arr.astype(">u2" if arr.dtype == np.uint16 else np.uint8).reshape(height, -1)
    rows = rows.view(np.uint8)
    bpp = channels * arr.dtype.itemsize
    step = max(1, (1 << 20) // max(rows.shape[1], 1))
    comp = zlib.compressobj(6)
    out, prev = [], np.zeros(rows.shape[1], np.uint8)
    for start in range(0, height, step):
        block = rows[start:start + step]
        out.append(comp.compress(_png_rows(block, prev, bpp)))
        prev = block[-1]
    out.append(comp.flush())
    return b"".join(out)


def _png_text_chunk(key: str, value: str) -> bytes:
    k = key.encode("latin-1", "replace")[:79]
    try:
        return _png_chunk(b"tEXt", k + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        return _png_chunk(b"iTXt", k + b"\0\0\0\0\0" + value.encode("utf-8"))


def _encode(tmp: Path, stored: np.ndarray, alpha: np.ndarray | None, source: Source) -> None:
    arr = interleave(stored, alpha)
    height, width, channels = arr.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    meta = source.metadata
    parts = [_PNG_SIG, _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height,
                                                        8 * arr.dtype.itemsize, ctype, 0, 0, 0))]
    if meta.get("icc_profile"):
        parts.append(_png_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(meta["icc_profile"])))
    res, unit = meta.get("resolution"), meta.get("resolution_unit", "inch")
    if res:
        scale = {"inch": 1 / 0.0254, "cm": 100.0}.get(unit, 1.0)
        parts.append(_png_chunk(b"pHYs", struct.pack(">IIB", round(res[0] * scale),
                                                     round(res[1] * scale), unit != "none")))
    if meta.get("exif"):
        exif = meta["exif"]
        parts.append(_png_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif))
    texts = dict(meta.get("text") or {})
    if meta.get("description"):
        texts["Description"] = meta["description"]
    parts += [_png_text_chunk(k, str(v)) for k, v in texts.items() if k]
    parts += [_png_chunk(b"IDAT", _png_idat(arr)), _png_chunk(b"IEND", b"")]
    tmp.write_bytes(b"".join(parts))


def _write(tmp: Path, data: np.ndarray, lo: float, hi: float, name: str, alpha: np.ndarray | None,
           source: Source, history: str | None) -> None:
    _encode(tmp, from_unit(data, lo, hi, name), alpha, source)


FORMAT = Format("png", "PNG", (".png",), ("uint8", "uint16"), lambda head, ours: head.startswith(_PNG_SIG),
                _size, _read, _write, channels=(1, 3))
