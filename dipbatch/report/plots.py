"""The per-image plots of the report, drawn with matplotlib's Agg canvas into PNG bytes.

Each function takes the image's sidecar record and returns None when the fields it needs are
absent (a sidecar from an older dipbatch, a fit that recorded no curve).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

WIDTH_IN, HEIGHT_IN, DPI = 5.2, 2.6, 96
MAX_POINTS = 500  # a curve is thinned to about this many (min, max) pairs: the plot is ~450 px wide
MARGINS = {"left": 0.13, "right": 0.97}  # fixed: constrained layout costs ~1 s a figure
STOP_STYLE: dict[str, Any] = {"color": "#d62728", "linestyle": "--", "linewidth": 1.2}


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _curve(pairs: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Iterations and values of a [[iteration, value], ...] curve; None when empty or malformed."""
    try:
        array = np.asarray(pairs, np.float64)
    except (TypeError, ValueError):
        return None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] != 2:
        return None
    return _thin(array[:, 0], array[:, 1])


def _thin(x: np.ndarray, y: np.ndarray, points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest sample of each of `points` runs, in order: a long curve drawn as fast
    as a short one, keeping its spikes (a blow-up the guard undid) and its minimum."""
    if x.size <= 2 * points:
        return x, y
    runs = np.array_split(np.arange(x.size), points)
    filled = np.where(np.isfinite(y), y, np.nanmean(y) if np.isfinite(y).any() else 0.0)
    ends = ((run[np.argmin(filled[run])], run[np.argmax(filled[run])]) for run in runs)
    keep = sorted({int(i) for pair in ends for i in pair})
    return x[keep], y[keep]


def _cap(record: dict[str, Any]) -> float | None:
    """The fit's iteration cap (its preset's count, --iterations applied); None when not recorded."""
    try:
        cap = record["params"]["preset"]["fit"]["iterations"]
    except (KeyError, TypeError):
        return None
    return float(cap) if isinstance(cap, (int, float)) and cap > 0 else None


def _floor_ratio(record: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """The data-fit over the noise floor against iterations (the discrepancy signal), if recorded."""
    fit, floor = _curve(record.get("datafit_curve")), record.get("noise_floor")
    if fit is None or not isinstance(floor, (int, float)) or not floor > 0:
        return None
    return fit[0], fit[1] / floor


def curves_plot(record: dict[str, Any]) -> bytes | None:
    """The loss and, when recorded, the early-stopping curves (the data-fit over the noise floor,
    with the ratio the discrepancy signal stops at, and the windowed variance), the stop marked."""
    loss = _curve(record.get("loss_curve"))
    watch = _curve(record.get("stop_curve"))
    if loss is None and watch is None:
        return None
    ratio = _floor_ratio(record)
    threshold = (record.get("stop_settings") or {}).get("discrepancy")  # the ratio the signal stops at
    panels = [(c, label) for c, label in ((loss, "loss"), (ratio, "data-fit ÷ noise floor"),
                                          (watch, record.get("stop_curve_name") or "stopping criterion"))
              if c is not None]
    height = HEIGHT_IN * (0.75 + 0.45 * len(panels))
    figure = Figure(figsize=(WIDTH_IN, height))
    figure.subplots_adjust(**MARGINS, top=1 - 0.3 / height, bottom=0.5 / height, hspace=0.3)
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    stop, cap = record.get("stop_iteration"), _cap(record)
    for ax, (curve, label) in zip(axes, panels, strict=True):
        x, y = curve
        ax.plot(x, y, color="#1f77b4", linewidth=1.2)
        if np.all(y[np.isfinite(y)] > 0):
            ax.set_yscale("log")
            # 1-2-5 ticks with plain-text labels: the default 10^k ones go through mathtext (half
            # the plot's time) and a curve within one decade would get a single label
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(label, loc="left", fontsize="medium")
        ax.grid(alpha=0.3)
        if curve is ratio and isinstance(threshold, (int, float)):
            ax.axhline(threshold, color="0.4", linestyle=":", linewidth=1.2,
                       label=f"stops at {threshold:g}× the floor")
        if isinstance(stop, (int, float)) and stop > 0:
            ax.axvline(stop, **STOP_STYLE, label=f"stop at {stop:g}")
            if cap is not None and cap > max(stop, x[-1]):  # the axis runs to the cap: a stop inside
                ax.axvspan(max(stop, x[-1]), cap, color="0.93", zorder=0,
                           label=f"not run (cap {cap:g})" if ax is axes[0] else None)
                ax.set_xlim(right=cap)
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right", fontsize="small")
    axes[-1].set_xlabel("iteration")
    return _png(figure)


def _edges(centres: Sequence[float] | np.ndarray) -> np.ndarray:
    """Cell edges around sample positions (midpoints; the outer cells as wide as their neighbours)."""
    c = np.asarray(centres, np.float64)
    if c.size == 1:
        return np.array([0.0, c[0]]) if c[0] > 0 else np.array([c[0] - 0.5, c[0] + 0.5])
    middle = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (middle[0] - c[0])], middle, [c[-1] + (c[-1] - middle[-1])]])


def spectral_plot(record: dict[str, Any]) -> bytes | None:
    """The band energy against iterations: which frequencies the net had fitted, and when."""
    spectral = record.get("spectral")
    if not isinstance(spectral, dict):
        return None
    try:
        energy = np.asarray(spectral["energy"], np.float64)
        iterations = np.asarray(spectral["iterations"], np.float64)
        band_edges = np.asarray(spectral["band_edges"], np.float64)
    except (KeyError, TypeError, ValueError):
        return None
    if energy.ndim != 2 or energy.shape[0] != iterations.size or energy.size == 0:
        return None
    bands = energy.shape[1]
    if band_edges.size == bands:  # band centres rather than edges
        band_edges = _edges(band_edges)
    if band_edges.size != bands + 1:
        band_edges = np.arange(bands + 1, dtype=np.float64)
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN))
    figure.subplots_adjust(**{**MARGINS, "right": 0.9}, top=0.95, bottom=0.5 / HEIGHT_IN)
    ax = figure.subplots()
    mesh = ax.pcolormesh(_edges(iterations), band_edges, energy.T, cmap="viridis",
                         vmin=0.0, vmax=max(1.0, float(np.nanmax(energy))), shading="flat")
    figure.colorbar(mesh, ax=ax, label="energy fitted", fraction=0.06, pad=0.02)
    stop = record.get("stop_iteration")
    if isinstance(stop, (int, float)) and stop > 0:
        ax.axvline(stop, **STOP_STYLE, label=f"stop at {stop:g}")
    cutoff = record.get("cutoff_frequency")
    if isinstance(cutoff, (int, float)) and cutoff > 0:
        ax.axhline(cutoff, color="white", linestyle=":", linewidth=1.2, label=f"cutoff {cutoff:.3g}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("frequency (cycles/pixel)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize="small")
    return _png(figure)
