"""Large frames, fitted tile by tile: overlapping tiles, batched fits, a smooth blend, per-batch checkpoints.

Memory: the fit of one batch of tiles, set by tile_batch × tile² and the net, never by the frame's
size; plus the frame's own arrays (the input, what the fit observes, masks, the blend's sums and
float64 temporaries): about 45 bytes per pixel and channel, measured by benchmarks/large_frames.py.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dipbatch.errors import FieldError
from dipbatch.fit.checkpoint import load_checkpoint, resumed, save_checkpoint
from dipbatch.fit.loop import FitResult, Fitter, ProgressHook
from dipbatch.fit.problem import Problem
from dipbatch.fit.signals import CAP
from dipbatch.physics.operators import Blur, Identity


@dataclass(frozen=True)
class TilingOptions:
    """When and how to split a frame into tiles."""

    tile: int = 0  # tile side in pixels; 0: never tile
    tile_overlap: int = 64
    tile_batch: int = 4  # tiles fitted at once

    def applies(self, size: tuple[int, int]) -> bool:
        """Whether a frame of (height, width) is fitted in tiles."""
        return self.tile > 0 and max(size) > self.tile

    def check(self) -> None:
        """Refuse an overlap that leaves a tile nothing of its own (before any frame is read)."""
        if self.tile > 0 and self.tile_overlap >= self.tile:
            raise FieldError(f"`tile_overlap` {self.tile_overlap}",
                             f"must be smaller than `tile` {self.tile}")

    def plan(self, observed: tuple[int, int], estimate: tuple[int, int]) -> TilePlan:
        """The tiles of a frame whose estimate is `estimate` for an `observed` observation: a blur's
        tiles must overlap by at least its radius, so that each tile's estimate sees all the light
        of the pixels it is trusted for."""
        margin = estimate[0] - observed[0]
        if margin and self.tile_overlap < margin // 2:
            raise FieldError(f"`tile_overlap` {self.tile_overlap}",
                             f"must be at least the PSF's radius ({margin // 2} px) for this blur")
        return TilePlan(observed, self, margin)


@dataclass(frozen=True)
class Box:
    """A tile's place in the frame."""

    top: int
    left: int
    height: int
    width: int

    @property
    def index(self) -> tuple[slice, slice]:
        return slice(self.top, self.top + self.height), slice(self.left, self.left + self.width)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Where tiles of `tile` pixels start along a side, overlapping by at least `overlap`."""
    if length <= tile:
        return [0]
    if overlap >= tile:
        raise FieldError(f"`tile_overlap` {overlap}", f"must be smaller than `tile` {tile}")
    return [*range(0, length - tile, tile - overlap), length - tile]


def tile_boxes(size: tuple[int, int], tile: int, overlap: int) -> list[Box]:
    """The tiles that cover a frame of (height, width), row by row; all of one size."""
    height, width = size
    return [Box(top, left, min(tile, height), min(tile, width))
            for top in tile_starts(height, tile, overlap) for left in tile_starts(width, tile, overlap)]


def taper(length: int, ramp: int) -> np.ndarray:
    """1-D weights: sin² up over `ramp` pixels, 1, then down; two facing ramps sum to 1."""
    ramp = min(ramp, length // 2)
    weights = np.ones(length)
    if ramp:
        up = np.sin(0.5 * np.pi * (np.arange(ramp) + 0.5) / ramp) ** 2
        weights[:ramp], weights[length - ramp:] = up, up[::-1]
    return weights


@dataclass(frozen=True)
class TilePlan:
    """The tiles of one frame, in the batches they are fitted in, and their blend weight."""

    size: tuple[int, int]  # the observation's
    options: TilingOptions
    margin: int = 0  # how much wider and taller each tile's estimate is (a blur's kernel size − 1)

    @property
    def estimate_size(self) -> tuple[int, int]:
        return self.size[0] + self.margin, self.size[1] + self.margin

    def estimate_box(self, box: Box) -> Box:
        """Where a tile's estimate lies in the frame's: its observation's box, grown by the margin
        (a "valid" blur's estimate of observed rows [t, t+h) covers rows [t, t+h+k−1))."""
        return Box(box.top, box.left, box.height + self.margin, box.width + self.margin)

    @property
    def boxes(self) -> list[Box]:
        return tile_boxes(self.size, self.options.tile, self.options.tile_overlap)

    @property
    def batches(self) -> list[list[Box]]:
        boxes, step = self.boxes, self.options.tile_batch
        return [boxes[i:i + step] for i in range(0, len(boxes), step)]

    def window(self) -> np.ndarray:
        """Every tile's blend weight (on its estimate), tapered only along the sides that are split,
        over the whole width that two neighbours' estimates share: the overlap and the margin."""
        tile, overlap = self.options.tile, self.options.tile_overlap
        box = self.estimate_box(self.boxes[0])
        ramps = [overlap + self.margin if length > tile else 0 for length in self.size]
        return np.outer(taper(box.height, ramps[0]), taper(box.width, ramps[1])).astype(np.float32)

    def record(self) -> dict[str, Any]:
        tile, overlap = self.options.tile, self.options.tile_overlap
        return {"tile": tile, "overlap": overlap, "margin": self.margin, "batch": self.options.tile_batch,
                "tiles": len(self.boxes), "grid": [len(tile_starts(n, tile, overlap)) for n in self.size]}


class Blend:
    """Weighted sums of tile estimates; their ratio is the frame, their spread the tiles' disagreement."""

    def __init__(self, channels: int, size: tuple[int, int], window: np.ndarray) -> None:
        self.window = window
        self.total = np.zeros((channels, *size), np.float32)
        self.squares = np.zeros((channels, *size), np.float32)
        self.weight = np.zeros(size, np.float32)
        self.cover = np.zeros(size, np.uint8)

    def add(self, estimate: np.ndarray, box: Box) -> None:
        rows, cols = box.index
        self.total[:, rows, cols] += self.window * estimate
        self.squares[:, rows, cols] += self.window * estimate * estimate
        self.weight[rows, cols] += self.window
        self.cover[rows, cols] += 1

    def result(self) -> np.ndarray:
        return self.total / self.weight

    def disagreement(self) -> float:
        """RMS of the tiles' weighted spread where two or more overlap (0 when none do)."""
        shared = self.cover > 1
        if not shared.any():
            return 0.0
        mean = self.total[:, shared] / self.weight[shared]
        spread = self.squares[:, shared] / self.weight[shared] - mean * mean
        return float(np.sqrt(max(float(spread.mean()), 0.0)))


def crop(problem: Problem, box: Box) -> Problem:
    """The problem of one tile: observation, weight and guide cut to the box. A blur's tile keeps
    the blur: its estimate reaches beyond the box by the kernel's radius (TilePlan.margin)."""
    if not isinstance(problem.operator, Identity | Blur):
        raise FieldError("`tile`", f"the {type(problem.operator).__name__} operator of this task "
                                 "sees more than each pixel; fit it whole with `tile` 0")
    rows, cols = box.index

    def cut(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t[..., rows, cols]

    return replace(problem, observation=problem.observation[..., rows, cols], weight=cut(problem.weight),
                   guide=cut(problem.guide))


class TileCheckpoints:
    """One checkpoint file per batch of tiles: the fit state while it runs, its results once done."""

    def __init__(self, base: Path, key: str, plan: TilePlan) -> None:
        self.paths = [base.with_name(f"{base.stem}.{b}{base.suffix}") for b in range(len(plan.batches))]
        self.key = key

    def load(self, b: int) -> dict[str, Any] | None:
        entry = load_checkpoint(self.paths[b], self.key)
        done = entry is not None and "results" in entry
        return None if done and not resumed(self.paths[b], _results_from_state, entry) else entry

    def save(self, b: int, entry: dict[str, Any]) -> None:
        if "results" in entry:  # a checkpoint holds tensors and plain values only
            entry = {**entry, "results": [r.state_dict() for r in entry["results"]]}
        save_checkpoint(self.paths[b], self.key, entry)


def _save_fit(store: TileCheckpoints, b: int, state: dict[str, Any]) -> None:
    """A running batch's checkpoint: its fit state."""
    store.save(b, {"fit": state})


def _results_from_state(entry: dict[str, Any]) -> None:
    """A done batch's entry with its results as FitResults (they are saved as plain states)."""
    entry["results"] = [FitResult.from_state(r) for r in entry["results"]]


def fit_tiled(problem: Problem, plan: TilePlan, make_fitter: Callable[[list[Problem]], Fitter],
              store: TileCheckpoints, progress: ProgressHook | None = None,
              checkpoint_every: int = 0) -> FitResult:
    """Fit `problem` tile by tile, a batch of tiles at once, and blend the tiles' estimates.

    Every tile's generator gets the same seed (through `make_fitter`). A batch's checkpoint holds
    its fit state, then its results, so a rerun after a kill redoes at most part of one batch.
    """
    batches = plan.batches
    blend = Blend(problem.channels, plan.estimate_size, plan.window())
    results: list[FitResult] = []
    resumed_batches = 0
    for b, batch in enumerate(batches):
        saved = store.load(b)
        resumed_batches += saved is not None
        if saved is not None and "results" in saved:
            done = saved["results"]
        else:
            fitter = make_fitter([crop(problem, box) for box in batch])
            if saved is not None and not resumed(store.paths[b], fitter.load_state_dict, saved.get("fit")):
                resumed_batches -= 1
            done = fitter.run(progress=_offset(progress, b, len(batches)),
                              checkpoint=partial(_save_fit, store, b),
                              checkpoint_every=checkpoint_every)[:len(batch)]
            store.save(b, {"results": done})
        for box, result in zip(batch, done, strict=True):
            blend.add(result.estimate, plan.estimate_box(box))
        results += done
    record = {"tiling": {**plan.record(), "batches_resumed": resumed_batches,
                         "overlap_rms": blend.disagreement(),
                         "tile_stop_iterations": [r.stop_iteration for r in results]}}
    return _combined(results, blend.result(), record)


def _offset(progress: ProgressHook | None, b: int, batches: int) -> ProgressHook | None:
    """A batch's progress as part of the whole frame's."""
    if progress is None:
        return None

    def hook(iteration: int, cap: int, losses: list[float]) -> None:
        progress(b * cap + iteration, batches * cap, losses)

    return hook


def _combined(results: list[FitResult], estimate: np.ndarray, record: dict[str, Any]) -> FitResult:
    """One FitResult for the frame: the blended estimate, the tiles' mean loss curve."""
    curve: dict[int, list[float]] = defaultdict(list)
    for result in results:
        for iteration, loss in result.loss_curve:
            curve[iteration].append(loss)
    reasons = Counter(r.stop_reason for r in results)
    reason, count = reasons.most_common(1)[0]
    kinds = {r.stop_kind for r in results}
    kind = CAP if CAP in kinds else Counter(r.stop_kind for r in results).most_common(1)[0][0]
    return FitResult(
        estimate=estimate,
        iterations=max(r.iterations for r in results),
        stop_iteration=max(r.stop_iteration for r in results),
        stop_reason=f"{len(results)} tiles; " + (reason if count == len(results) else
                                                 f"{count} tiles: {reason}; others differ"),
        final_loss=float(np.mean([r.final_loss for r in results])),
        loss_curve=[(i, float(np.mean(v))) for i, v in sorted(curve.items())],
        restores=sum(r.restores for r in results),
        record=record,
        stop_kind=kind,  # a frame with one tile at its cap ran to the cap
        stop_signal=Counter(r.stop_signal for r in results).most_common(1)[0][0],
    )
