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

WIDTH_IN, HEIGHT_IN, DPI = 5.2, 2.6, 96
STOP_STYLE = {"color": "#d62728", "linestyle": "--", "linewidth": 1.2}


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
    return array[:, 0], array[:, 1]


def curves_plot(record: dict[str, Any]) -> bytes | None:
    """The loss and, when recorded, the early-stopping curve, with the stop iteration marked."""
    loss = _curve(record.get("loss_curve"))
    watch = _curve(record.get("stop_curve"))
    if loss is None and watch is None:
        return None
    panels = [(c, label) for c, label in ((loss, "loss"), (watch, record.get("stop_curve_name")
                                                        or "stopping criterion")) if c is not None]
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN * (0.75 + 0.45 * len(panels))), layout="constrained")
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    stop = record.get("stop_iteration")
    for ax, ((x, y), label) in zip(axes, panels, strict=True):
        ax.plot(x, y, color="#1f77b4", linewidth=1.2)
        if np.all(y[np.isfinite(y)] > 0):
            ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if isinstance(stop, (int, float)) and stop > 0:
            ax.axvline(stop, **STOP_STYLE, label=f"stop at {stop:g}")
    axes[0].legend(loc="upper right", fontsize="small")
    axes[-1].set_xlabel("iteration")
    return _png(figure)


def _edges(centres: Sequence[float]) -> np.ndarray:
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
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), layout="constrained")
    ax = figure.subplots()
    mesh = ax.pcolormesh(_edges(iterations), band_edges, energy.T, cmap="viridis",
                         vmin=0.0, vmax=max(1.0, float(np.nanmax(energy))), shading="flat")
    figure.colorbar(mesh, ax=ax, label="energy fitted")
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
