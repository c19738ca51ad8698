"""Read and write PNG, JPEG, TIFF and FITS images as float32 C×H×W arrays on a [0,1] scale.

`read_image` maps stored samples with (stored - lo) / (hi - lo), where (lo, hi) is the
`Source.value_range`; `write_image` maps back with lo + data * (hi - lo) and re-attaches what the
`Source` kept: alpha plane, ICC profile, EXIF, description, resolution, FITS header.
PNG is written by this module's own encoder (any layout, 8 or 16 bits, with its metadata chunks),
read with Pillow (up to 8 bits) or OpenCV (16 bits); JPEG uses Pillow, TIFF tifffile, FITS astropy.
"""

from __future__ import annotations

import contextlib
import io
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage

from dipbatch.errors import DipbatchError, short
from dipbatch.io.atomic import atomic_paths
from dipbatch.io.pixels import DEFAULT_MAX_PIXELS, check_pixels

_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
_SUFFIX_FORMAT = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff",
                  **dict.fromkeys(_FITS_SUFFIXES, "fits")}
#: The suffixes dipbatch can read and write, in a fixed order (discovery's default patterns).
IMAGE_SUFFIXES: tuple[str, ...] = tuple(_SUFFIX_FORMAT)
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_SUFFIX_FORMAT)

# The sample dtypes each output format can hold.
HOLDABLE: dict[str, tuple[str, ...]] = {
    "png": ("uint8", "uint16"),
    "jpeg": ("uint8",),
    "tiff": ("uint8", "uint16", "uint32", "int8", "int16", "int32", "float16", "float32", "float64"),
    "fits": ("uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "float32", "float64"),
}
_NAMES = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF", "fits": "FITS"}
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
#: Samples per pixel by PNG colour type, as decoded (a palette becomes RGBA).
_PNG_SAMPLES = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}
#: The most a compressed PNG metadata chunk (zTXt, iTXt, iCCP) may inflate to: a 1 MB file could
#: otherwise ask for gigabytes (Pillow's own text limit is 1 MB; ICC profiles stay well below this).
PNG_METADATA_CAP = 16 << 20



@dataclass
class Source:
    """Where an image came from and how to store it again."""

    path: str
    format: str
    dtype: str
    value_range: tuple[float, float]
    layout: str
    alpha: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    height: int = 0
    width: int = 0

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return (self.height, self.width)


@dataclass
class Image:
    """Colour channels as float32 C×H×W, (stored - lo) / (hi - lo), plus where they came from."""

    data: np.ndarray
    source: Source


def has_image_suffix(path: str) -> bool:
    """True if dipbatch can read and write a file with this name's suffix."""
    return path.lower().endswith(IMAGE_SUFFIXES)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return next((s for s in _FITS_SUFFIXES if name.endswith(s)), path.suffix.lower())


def _unsupported(path: Path) -> DipbatchError:
    shown = _suffix(path) or "(none)"
    return DipbatchError(path, f"unsupported file type '{shown}'; supported: "
                               + " ".join(sorted(SUPPORTED_SUFFIXES)))


def _sniff(head: bytes, by_suffix: str) -> str | None:
    if head.startswith(_PNG_SIG):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
        return "tiff"
    if head.startswith(b"SIMPLE  =") or (head.startswith(b"\x1f\x8b") and by_suffix == "fits"):
        return "fits"
    return None


def _probe(path: str | Path) -> tuple[Path, str]:
    """Check that `path` is a readable, non-empty image file; return it and its format."""
    p = Path(path)
    if p.is_dir():
        raise DipbatchError(p, "is a folder, not an image file")
    if not p.exists():
        raise DipbatchError(p, "no such file")
    by_suffix = _SUFFIX_FORMAT.get(_suffix(p))
    if by_suffix is None:
        raise _unsupported(p)
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except PermissionError:
        raise DipbatchError(p, "cannot read the file: permission denied") from None
    except OSError as exc:
        raise DipbatchError(p, f"cannot read the file: {exc.strerror or exc}") from None
    if not head:
        raise DipbatchError(p, "empty file")
    fmt = _sniff(head, by_suffix)
    if fmt is None:
        raise DipbatchError(p, f"unsupported contents: not a PNG, JPEG, TIFF or FITS file "
                               f"(it starts with {head[:8]!r})")
    return p, fmt


def _layout(channels: int, has_alpha: bool) -> str:
    base = {1: "gray", 3: "rgb"}.get(channels, "multi")
    return base + "+alpha" if has_alpha and base != "multi" else base


def _dtype_range(dtype: np.dtype | str) -> tuple[float, float]:
    info = np.iinfo(np.dtype(dtype))
    return float(info.min), float(info.max)


def _finite_range(stored: np.ndarray) -> tuple[float, float]:
    finite = stored[np.isfinite(stored)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return (lo, lo + 1.0) if hi == lo else (lo, hi)


# ----------------------------------------------------------------------------------- reading


@contextlib.contextmanager
def _pillow_unlimited():
    """Pillow's own bomb check off: the limit was checked against the header already."""
    saved = PILImage.MAX_IMAGE_PIXELS
    PILImage.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        PILImage.MAX_IMAGE_PIXELS = saved


def read_image(path: str | Path, *, hdu: int | str | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> Image:
    """Read an image; `hdu` picks a FITS HDU by index or EXTNAME (default: first with data).

    A file whose header claims more than `max_pixels` pixels is refused before it is decoded.
    """
    p, fmt = _probe(path)
    try:
        if fmt == "fits":
            from dipbatch.io import fitsio

            stored, dtype, vrange, layout, alpha, meta = fitsio.read(p, hdu, max_pixels)
        else:
            reader = {"png": _read_png, "jpeg": _read_jpeg, "tiff": _read_tiff}[fmt]
            with _pillow_unlimited():
                stored, alpha, meta = reader(p, max_pixels)
            dtype = stored.dtype.name
            floating = stored.dtype.kind == "f"
            vrange = _finite_range(stored) if floating else _dtype_range(stored.dtype)
            layout = _layout(stored.shape[0], alpha is not None)
        lo, hi = vrange
        data = ((stored.astype(np.float64) - lo) / (hi - lo)).astype(np.float32)
        if not np.isfinite(data).any():
            raise DipbatchError(p, "no finite sample: every pixel is NaN or infinite")
    except DipbatchError:
        raise
    except MemoryError:
        raise DipbatchError(p, "not enough memory to read this image") from None
    except Exception as exc:
        raise DipbatchError(p, f"truncated or corrupt image ({short(exc)})") from None
    source = Source(path=str(p), format=fmt, dtype=dtype, value_range=(float(lo), float(hi)),
                    layout=layout, alpha=alpha, metadata=meta,
                    height=data.shape[1], width=data.shape[2])
    return Image(data=data, source=source)


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


def _read_png(p: Path, max_pixels: int) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
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
        im = PILImage.open(io.BytesIO(buf))
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
    return colour, alpha, meta


def _read_jpeg(p: Path, max_pixels: int) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
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
    return colour, None, meta


_TIFF_UNITS = {1: "none", 2: "inch", 3: "cm"}


def _read_tiff(p: Path, max_pixels: int) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
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
        alpha, meta = None, {}
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
    return np.ascontiguousarray(colour.astype(colour.dtype.newbyteorder("="))), alpha, meta


def image_size(path: str | Path, *, hdu: int | str | None = None) -> tuple[int, int]:
    """(height, width) read from the file's header only."""
    p, fmt = _probe(path)
    try:
        if fmt == "png":
            with open(p, "rb") as f:
                head = f.read(24)
            if len(head) < 24 or head[12:16] != b"IHDR":
                raise ValueError("PNG has no IHDR chunk")
            width, height = struct.unpack(">II", head[16:24])
            return int(height), int(width)
        if fmt == "jpeg":
            with PILImage.open(p) as im:
                return im.height, im.width
        if fmt == "tiff":
            import tifffile

            with tifffile.TiffFile(p) as tif:
                page = tif.pages[0]
                return int(page.imagelength), int(page.imagewidth)
        from dipbatch.io import fitsio

        return fitsio.image_size(p, hdu)
    except DipbatchError:
        raise
    except Exception as exc:
        raise DipbatchError(p, f"truncated or corrupt image ({short(exc)})") from None


# ----------------------------------------------------------------------------------- writing


def _target_range(source: Source, name: str, fmt: str) -> tuple[float, float]:
    """The stored values that 0 and 1 map to in the output dtype `name`."""
    lo, hi = (float(v) for v in source.value_range)
    if np.dtype(name).kind == "f":
        return lo, hi  # floats keep the source's values
    if name == source.dtype:
        dlo, dhi = _dtype_range(name)
        if fmt == "fits" or (dlo <= min(lo, hi) and max(lo, hi) <= dhi):
            return lo, hi
    return _dtype_range(name)  # another integer type: the full range of that type


def _from_unit(data: np.ndarray, lo: float, hi: float, name: str) -> np.ndarray:
    stored = lo + data.astype(np.float64) * (hi - lo)
    dtype = np.dtype(name)
    if dtype.kind == "f":
        return stored.astype(dtype)
    dlo, dhi = _dtype_range(dtype)
    stored = np.where(np.isnan(stored), 0.0, stored)
    return np.clip(np.rint(stored), dlo, dhi).astype(dtype)


def _convert_alpha(alpha: np.ndarray, name: str) -> np.ndarray:
    """Alpha in the output sample type: unchanged when the type matches, else rescaled."""
    if alpha.dtype.name == name:
        return alpha
    unit = alpha.astype(np.float64) / (1.0 if alpha.dtype.kind == "f" else np.iinfo(alpha.dtype).max)
    if np.dtype(name).kind == "f":
        return unit.astype(name)
    return np.rint(np.clip(unit, 0.0, 1.0) * np.iinfo(np.dtype(name)).max).astype(name)


def check_holdable(path: str | Path, channels: int, dtype: str) -> str:
    """Refuse an output whose format cannot hold `channels` colour channels of `dtype` samples (so
    that it is refused before the fit, not after); return the sample type's name."""
    p = Path(path)
    fmt = _SUFFIX_FORMAT.get(_suffix(p))
    if fmt is None:
        raise _unsupported(p)
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise DipbatchError(p, f"unknown sample type '{dtype}'") from None
    if name not in HOLDABLE[fmt]:
        raise DipbatchError(p, f"{_NAMES[fmt]} cannot hold {name} samples; it holds "
                               f"{', '.join(HOLDABLE[fmt])}: choose one with --output-dtype")
    if fmt in ("png", "jpeg") and channels not in (1, 3):
        raise DipbatchError(p, f"{_NAMES[fmt]} holds 1 (gray) or 3 (RGB) colour channels, not "
                               f"{channels}; write a .tif or .fits instead")
    return name


def write_image(path: str | Path, data: np.ndarray, source: Source, *, dtype: str | None = None,
                history: str | None = None, companions: dict[Path, bytes] | None = None) -> None:
    """Write `data` (C×H×W on `source`'s [0,1] scale) in the format of `path`'s suffix.

    `companions` (path: contents, e.g. the sidecar) are committed together with the image: all
    written to temporary files first, then renamed (see `atomic_paths`).
    """
    p = Path(path)
    fmt = _SUFFIX_FORMAT.get(_suffix(p))
    if fmt is None:
        raise _unsupported(p)
    if p.is_dir():
        raise DipbatchError(p, "is a folder, not an image file")
    if not p.parent.is_dir():
        raise DipbatchError(p, "the output folder does not exist")
    data = np.asarray(data)
    data = data[None] if data.ndim == 2 else data
    if data.ndim != 3 or data.shape[0] < 1:
        raise DipbatchError(p, f"expected a C×H×W array, got shape {data.shape}")
    channels, height, width = data.shape
    name = check_holdable(p, channels, dtype or source.dtype)
    lo, hi = _target_range(source, name, fmt)
    alpha = source.alpha
    if fmt in ("jpeg", "fits") or alpha is None or alpha.shape != (height, width):
        alpha = None
    else:
        alpha = _convert_alpha(alpha, name)
    companions = companions or {}
    try:
        with atomic_paths(p, *companions) as (tmp, *others):
            for other, payload in zip(others, companions.values(), strict=True):
                other.write_bytes(payload)
            if fmt == "fits":
                from dipbatch.io import fitsio

                fitsio.write(tmp, lo + data.astype(np.float64) * (hi - lo), name, source, history)
            else:
                stored = _from_unit(data, lo, hi, name)
                {"png": _write_png, "jpeg": _write_jpeg, "tiff": _write_tiff}[fmt](
                    tmp, stored, alpha, source)
    except DipbatchError:
        raise
    except OSError as exc:
        raise DipbatchError(p, f"cannot write the file: {exc.strerror or short(exc)}") from None
    except MemoryError:
        raise DipbatchError(p, "not enough memory to write this image") from None
    except Exception as exc:
        raise DipbatchError(p, f"cannot write {_NAMES[fmt]}: {short(exc)}") from None


def _interleave(stored: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    planes = list(stored) + ([alpha] if alpha is not None else [])
    return np.ascontiguousarray(np.stack(planes, axis=-1))


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


def _write_png(tmp: Path, stored: np.ndarray, alpha: np.ndarray | None, source: Source) -> None:
    arr = _interleave(stored, alpha)
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


def _write_jpeg(tmp: Path, stored: np.ndarray, alpha: np.ndarray | None, source: Source) -> None:
    im = PILImage.fromarray(stored[0] if stored.shape[0] == 1 else _interleave(stored, None))
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


def _write_tiff(tmp: Path, stored: np.ndarray, alpha: np.ndarray | None, source: Source) -> None:
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
    arr = stored[0] if channels == 1 and alpha is None else _interleave(stored, alpha)
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
