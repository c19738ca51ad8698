"""Read and write images as float32 C×H×W arrays on a [0,1] scale, in whichever format their suffix
and contents name (`dipbatch.io.formats`: PNG, JPEG, TIFF, FITS).

`read_image` maps stored samples with (stored - lo) / (hi - lo), where (lo, hi) is the
`Source.value_range`; `write_image` maps back with lo + data * (hi - lo) and re-attaches what the
`Source` kept: alpha plane, ICC profile, EXIF, description, resolution, FITS header. Every header is
held to the pixel limit before a byte is decoded, and every write is atomic and durable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from dipbatch.errors import DipbatchError, short
from dipbatch.io.atomic import atomic_paths
from dipbatch.io.formats import FORMATS, IMAGE_SUFFIXES, Format, by_suffix, suffix_of
from dipbatch.io.pixels import DEFAULT_MAX_PIXELS
from dipbatch.io.samples import Image, Source, convert_alpha, dtype_range, finite_range, layout_of

__all__ = ["DEFAULT_MAX_PIXELS", "HOLDABLE", "IMAGE_SUFFIXES", "SUPPORTED_SUFFIXES", "Image", "Source",
           "check_holdable", "has_image_suffix", "image_size", "read_image", "write_image"]

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(IMAGE_SUFFIXES)
#: The sample dtypes each output format can hold, by format name.
HOLDABLE: dict[str, tuple[str, ...]] = {f.name: f.holds for f in FORMATS}


def has_image_suffix(path: str) -> bool:
    """True if dipbatch can read and write a file with this name's suffix."""
    return path.lower().endswith(IMAGE_SUFFIXES)


def _unsupported(path: Path) -> DipbatchError:
    shown = suffix_of(path) or "(none)"
    return DipbatchError(path, f"unsupported file type '{shown}'; supported: "
                               + " ".join(sorted(SUPPORTED_SUFFIXES)))


def _format_of(path: Path) -> Format:
    """The format of an output file's name, or the one-line refusal of its suffix."""
    found = by_suffix(path)
    if found is None:
        raise _unsupported(path)
    return found


def _probe(path: str | Path) -> tuple[Path, Format]:
    """Check that `path` is a readable, non-empty image file; return it and its format, as its
    contents say (its name's format first among formats whose sniffing needs the suffix)."""
    p = Path(path)
    if p.is_dir():
        raise DipbatchError(p, "is a folder, not an image file")
    if not p.exists():
        raise DipbatchError(p, "no such file")
    named = _format_of(p)
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except PermissionError:
        raise DipbatchError(p, "cannot read the file: permission denied") from None
    except OSError as exc:
        raise DipbatchError(p, f"cannot read the file: {exc.strerror or exc}") from None
    if not head:
        raise DipbatchError(p, "empty file")
    found = next((f for f in FORMATS if f.sniff(head, f is named)), None)
    if found is None:
        labels = ", ".join(f.label for f in FORMATS[:-1]) + f" or {FORMATS[-1].label}"
        raise DipbatchError(p, f"unsupported contents: not a {labels} file (it starts with {head[:8]!r})")
    return p, found


@contextlib.contextmanager
def _pillow_unlimited() -> Iterator[None]:
    """Pillow's own bomb check off: the limit was checked against the header already."""
    saved = PILImage.MAX_IMAGE_PIXELS
    PILImage.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        PILImage.MAX_IMAGE_PIXELS = saved


def hdu_key(hdu: str | None) -> int | str | None:
    """A FITS HDU as an option spells it, as `read_image` takes it: digits are an index, anything
    else an EXTNAME."""
    return int(hdu) if hdu is not None and hdu.isdigit() else hdu


def read_image(path: str | Path, *, hdu: int | str | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> Image:
    """Read an image; `hdu` picks a FITS HDU by index or EXTNAME (default: first with data).

    A file whose header claims more than `max_pixels` pixels is refused before it is decoded.
    """
    p, fmt = _probe(path)
    try:
        with _pillow_unlimited():
            decoded = fmt.read(p, hdu, max_pixels)
        stored = decoded.stored
        floating = stored.dtype.kind == "f"
        lo, hi = decoded.value_range or (finite_range(stored) if floating else dtype_range(stored.dtype))
        data = ((stored.astype(np.float64) - lo) / (hi - lo)).astype(np.float32)
        if not np.isfinite(data).any():
            raise DipbatchError(p, "no finite sample: every pixel is NaN or infinite")
    except DipbatchError:
        raise
    except MemoryError:
        raise DipbatchError(p, "not enough memory to read this image") from None
    except Exception as exc:
        raise DipbatchError(p, f"truncated or corrupt image ({short(exc)})") from None
    layout = decoded.layout or layout_of(stored.shape[0], decoded.alpha is not None)
    source = Source(path=str(p), format=fmt.name, dtype=decoded.dtype or stored.dtype.name,
                    value_range=(float(lo), float(hi)), layout=layout, alpha=decoded.alpha,
                    metadata=decoded.metadata, height=data.shape[1], width=data.shape[2])
    return Image(data=data, source=source)


def image_size(path: str | Path, *, hdu: int | str | None = None) -> tuple[int, int]:
    """(height, width) read from the file's header only."""
    p, fmt = _probe(path)
    try:
        return fmt.size(p, hdu)
    except DipbatchError:
        raise
    except Exception as exc:
        raise DipbatchError(p, f"truncated or corrupt image ({short(exc)})") from None


def _target_range(source: Source, name: str, fmt: Format) -> tuple[float, float]:
    """The stored values that 0 and 1 map to in the output dtype `name`."""
    lo, hi = (float(v) for v in source.value_range)
    if np.dtype(name).kind == "f":
        return lo, hi  # floats keep the source's values
    if name == source.dtype:
        dlo, dhi = dtype_range(name)
        if fmt.any_range or (dlo <= min(lo, hi) and max(lo, hi) <= dhi):
            return lo, hi
    return dtype_range(name)  # another integer type: the full range of that type


def check_holdable(path: str | Path, channels: int, dtype: str) -> str:
    """Refuse an output whose format cannot hold `channels` colour channels of `dtype` samples (so
    that it is refused before the fit, not after); return the sample type's name."""
    p = Path(path)
    fmt = _format_of(p)
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise DipbatchError(p, f"unknown sample type '{dtype}'") from None
    if name not in fmt.holds:
        raise DipbatchError(p, f"{fmt.label} cannot hold {name} samples; it holds "
                               f"{', '.join(fmt.holds)}: choose one with --output-dtype")
    if fmt.channels is not None and channels not in fmt.channels:
        raise DipbatchError(p, f"{fmt.label} holds 1 (gray) or 3 (RGB) colour channels, not "
                               f"{channels}; write a .tif or .fits instead")
    return name


def write_image(path: str | Path, data: np.ndarray, source: Source, *, dtype: str | None = None,
                history: str | None = None, companions: dict[Path, bytes] | None = None) -> None:
    """Write `data` (C×H×W on `source`'s [0,1] scale) in the format of `path`'s suffix.

    `companions` (path: contents, e.g. the sidecar) are committed together with the image: all
    written to temporary files first, then renamed (see `atomic_paths`).
    """
    p = Path(path)
    fmt = _format_of(p)
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
    if not fmt.alpha or alpha is None or alpha.shape != (height, width):
        alpha = None
    else:
        alpha = convert_alpha(alpha, name)
    companions = companions or {}
    try:
        with atomic_paths(p, *companions) as (tmp, *others):
            for other, payload in zip(others, companions.values(), strict=True):
                other.write_bytes(payload)
            fmt.write(tmp, data, lo, hi, name, alpha, source, history)
    except DipbatchError:
        raise
    except OSError as exc:
        raise DipbatchError(p, f"cannot write the file: {exc.strerror or short(exc)}") from None
    except MemoryError:
        raise DipbatchError(p, "not enough memory to write this image") from None
    except Exception as exc:
        raise DipbatchError(p, f"cannot write {fmt.label}: {short(exc)}") from None
