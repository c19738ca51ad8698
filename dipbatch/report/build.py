"""Build one dataset's report: read each image once, make its pictures, plots and scores, render."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dipbatch.errors import DipbatchError
from dipbatch.io.images import read_image
from dipbatch.physics.metrics import psnr, ssim
from dipbatch.report import pictures, plots
from dipbatch.report.assets import Assets, FolderAssets, InlineAssets, Picture
from dipbatch.report.collect import Entry, Locations, overview, read_entries
from dipbatch.report.render import render_report
from dipbatch.report.temporal import TemporalSection, read_temporal, svg_size
from dipbatch.tasks import TaskOptions
from dipbatch.tasks.deblur import load_psf
from dipbatch.tasks.masks import binary_mask

THUMB_PX = 96     # longest side of a table thumbnail
VIEW_PX = 360     # longest side of each half of the before/after view
CROP_PX = 96      # side of the full-resolution crop of the most detailed region
#: Up to this many images the pictures are inline (about 170 KB an image, see benchmarks/RESULTS.md);
#: a larger dataset's report would be too heavy for a browser, so its pictures go beside it.
INLINE_MAX_IMAGES = 500
#: Rows of the image table per page; the per-image sections of the other pages stay hidden.
PAGE_ROWS = 100
PSF_PX = 120      # about the size the PSF is shown at (whole magnifications of its kernel)


@dataclass
class Scores:
    """PSNR (dB) and SSIM against the clean reference, before (the input) and after (the output)."""

    psnr_before: float | None = None
    psnr_after: float | None = None
    ssim_before: float | None = None
    ssim_after: float | None = None
    note: str = ""


def _zoom(pixels: np.ndarray, at_least: int) -> int:
    """The integer magnification that shows a small picture at about `at_least` pixels (at most ×8)."""
    return max(1, min(8, at_least // max(pixels.shape[:2])))


@dataclass
class ImageView:
    """Everything the template shows for one image."""

    entry: Entry
    shape: tuple[int, int] | None = None
    stretch: tuple[float, float] | None = None
    crop_box: tuple[int, int, int, int] | None = None
    pictures: dict[str, Picture] = field(default_factory=dict)  # thumb_before, view_after, ...
    scores: Scores | None = None
    notes: list[str] = field(default_factory=list)
    holes: float | None = None  # inpainting: the mask's share of holes

    @property
    def record(self) -> dict[str, Any]:
        return dict(self.entry.record or {})


def _load(path: Path | None, what: str, notes: list[str]) -> np.ndarray | None:
    if path is None:
        notes.append(f"{what}: not found")
        return None
    try:
        return read_image(path).data
    except DipbatchError as exc:
        notes.append(f"{what}: {exc}")
        return None


def _scores(reference: np.ndarray | None, before: np.ndarray | None, after: np.ndarray) -> Scores:
    if reference is None:
        return Scores(note="reference not readable")
    result = Scores()
    ref = np.nan_to_num(reference)
    for name, data in (("before", before), ("after", after)):
        if data is not None and data.shape == reference.shape:
            setattr(result, f"psnr_{name}", psnr(ref, np.nan_to_num(data)))
            setattr(result, f"ssim_{name}", ssim(ref, np.nan_to_num(data)))
    if result.psnr_after is None:
        result.note = f"reference is {reference.shape}, output {after.shape}"
    return result


def _scaled_box(box: tuple[int, int, int, int], source: tuple[int, ...], target: tuple[int, ...]):
    """The same region in an image of another size (a super-resolved output and its input)."""
    fy, fx = target[0] / source[0], target[1] / source[1]
    top, left, h, w = box
    return (int(top * fy), int(left * fx), max(1, round(h * fy)), max(1, round(w * fx)))


def _store(view: ImageView, assets: Assets, name: str, pixels: np.ndarray, lossless: bool,
           zoom: int = 1) -> None:
    payload, mime, suffix = ((pictures.encode_png(pixels), "image/png", "png") if lossless
                             else (pictures.encode_jpeg(pixels), "image/jpeg", "jpg"))
    src = assets.add(f"{view.entry.index:05d}-{name}.{suffix}", payload, mime)
    height, width = pixels.shape[:2]
    view.pictures[name] = Picture(src, width * zoom, height * zoom, zoom)


def _add_pictures(view: ImageView, before: np.ndarray | None, after: np.ndarray, assets: Assets) -> None:
    """Thumbnails, before/after views and crops of the most detailed region, on one display scale."""
    window = pictures.display_window(before if before is not None else after)
    view.stretch = window if window != (0.0, 1.0) else None
    view.crop_box = pictures.detailed_window(after, CROP_PX)
    for side, data in (("before", before), ("after", after)):
        if data is None:
            continue
        shown = pictures.to_display(data, window)
        _store(view, assets, f"thumb_{side}", pictures.shrink(shown, THUMB_PX), lossless=False)
        full = pictures.shrink(shown, VIEW_PX)
        zoom = _zoom(full, VIEW_PX)
        _store(view, assets, f"view_{side}", full, lossless=zoom > 1, zoom=zoom)  # magnified: no JPEG
        if view.crop_box[2:] != after.shape[-2:]:  # a crop of the whole image would repeat the view
            detail = pictures.crop(shown, _scaled_box(view.crop_box, after.shape[-2:], data.shape[-2:]))
            _store(view, assets, f"crop_{side}", detail, lossless=True,
                   zoom=max(2, _zoom(detail, 2 * CROP_PX)))


def _add_plots(view: ImageView, assets: Assets) -> None:
    for name, plot in (("curves", plots.curves_plot), ("spectral", plots.spectral_plot)):
        png = plot(view.record)
        if png is not None:
            width, height = pictures.png_size(png)
            src = assets.add(f"{view.entry.index:05d}-{name}.png", png, "image/png")
            view.pictures[name] = Picture(src, width, height)


def _add_mask(view: ImageView, assets: Assets) -> None:
    """Inpainting: the mask the fit used, white where pixels were known, black in the holes."""
    path = ((view.record.get("params") or {}).get("task_options") or {}).get("mask")
    if not path:
        return
    data = _load(Path(path), "mask", view.notes)
    if data is None:
        return
    try:
        known = np.all(binary_mask(data, path), axis=0, keepdims=True)
    except DipbatchError as exc:
        view.notes.append(f"mask: {exc}")
        return
    view.holes = float(1.0 - known.mean())
    shown = pictures.shrink(pictures.to_display(known.astype(np.float32)), VIEW_PX)
    _store(view, assets, "mask", shown, lossless=True, zoom=_zoom(shown, VIEW_PX))


def _add_psf(view: ImageView, assets: Assets) -> None:
    """Deblurring: the PSF the fit used, scaled to its peak, as the sidecar names it."""
    facts = view.record.get("psf")
    if not isinstance(facts, dict):
        return
    options = (view.record.get("params") or {}).get("task_options") or {}
    try:
        kernel = load_psf(TaskOptions(kind="deblur", psf=facts.get("source"),
                                      psf_hdu=options.get("psf_hdu"))).kernel
    except DipbatchError as exc:
        view.notes.append(f"psf: {exc}")
        return
    shown = pictures.to_display((kernel / kernel.max())[np.newaxis])
    _store(view, assets, "psf", shown, lossless=True, zoom=_zoom(shown, PSF_PX))


def image_view(entry: Entry, locations: Locations, assets: Assets) -> ImageView:
    """Read one image's input, output and reference once; make everything the report shows of it."""
    view = ImageView(entry)
    if not entry.ok:
        return view
    after = _load(entry.output, "output", view.notes)
    if after is None:
        return view
    before = _load(entry.input, "input", view.notes)
    view.shape = after.shape[-2:]
    _add_pictures(view, before, after, assets)
    _add_mask(view, assets)
    _add_psf(view, assets)
    reference = locations.reference_of(entry.image)
    if reference is not None:
        view.scores = _scores(_load(reference, "reference", view.notes), before, after)
    _add_plots(view, assets)
    return view


def temporal_section(locations: Locations, assets: Assets) -> TemporalSection | None:
    """The sequences' temporal table, with each per-frame plot stored like the other pictures."""
    section = read_temporal(locations.results)
    for index, sequence in enumerate(section.sequences if section else [], start=1):
        if sequence.plot is not None:
            src = assets.add(f"temporal-{index:03d}.svg", sequence.plot, "image/svg+xml")
            sequence.picture = Picture(src, *svg_size(sequence.plot))
    return section


def write_report(locations: Locations, output: Path, *, config: dict[str, Any] | None = None,
                 beside: bool | None = None, warnings: Sequence[str] = ()) -> list[ImageView]:
    """Write the dataset's HTML report to `output` (atomically); return what it shows per image.

    `beside` puts the pictures in a folder next to the report instead of inline; by default, only
    for datasets of more than INLINE_MAX_IMAGES images. `warnings` are shown above the overview
    (the workflow's, such as a dataset without images).
    """
    entries = read_entries(locations)
    if not output.parent.is_dir():
        raise DipbatchError(output.parent, "output folder does not exist")
    if beside is None:
        beside = len(entries) > INLINE_MAX_IMAGES
    assets: Assets = FolderAssets(output) if beside else InlineAssets()
    views = [image_view(entry, locations, assets) for entry in entries]
    summary = overview(locations.dataset, entries)
    render_report(output, title=f"dipbatch report: {summary.dataset}", overview=summary,
                  views=views, config=config, has_reference=locations.reference is not None,
                  warnings=list(warnings), page_rows=PAGE_ROWS,
                  temporal=temporal_section(locations, assets))
    return views
