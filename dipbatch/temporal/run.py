"""The temporal pass over one sequence: load, make it consistent, measure, write."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from dipbatch import __version__
from dipbatch.errors import DipbatchError, FieldError
from dipbatch.io.images import Image, write_image
from dipbatch.physics.metrics import psnr
from dipbatch.run.device import resolve_device
from dipbatch.temporal import DEFAULT_METHOD, METHODS
from dipbatch.temporal.dvp import DVPOptions, EpochHook, deep_video_prior
from dipbatch.temporal.fidelity import FidelityCheck, blend, guarded_strength
from dipbatch.temporal.figures import (
    CHECK_FELL_BACK,
    CHECK_OK,
    CHECK_RAISED,
    CHECK_WEAKENED,
    TemporalReport,
    write_report,
)
from dipbatch.temporal.flowfilter import flow_filter
from dipbatch.temporal.folder import staged_folder
from dipbatch.temporal.metrics import measure, sequence_flows, static_mask
from dipbatch.temporal.sequence import list_frames, numbering_gaps, read_frames
from dipbatch.temporal.video import VideoInfo, frame_name, is_video, read_video, write_video


@dataclass(frozen=True)
class TemporalOptions:
    """How to make a restored sequence temporally consistent."""

    method: str = DEFAULT_METHOD  # dvp: Deep Video Prior; flow: flow-guided filter; none: metrics only
    dvp: DVPOptions = field(default_factory=DVPOptions)
    radius: int = 2  # flow filter: neighbours on each side
    tolerance: float = 0.1  # flow filter: largest difference a warped neighbour may have
    device: str = "auto"
    overwrite: bool = False
    fallback: bool = False  # a pass that raises the warping error or the flicker keeps the per-frame frames
    fidelity_guard: bool = True  # weaken a pass that moves the frames away from the observations


@dataclass
class LoadedSequence:
    """A sequence's input frames and per-frame results, matched by frame name."""

    name: str
    frame_names: list[str]
    inputs: list[np.ndarray]
    results: list[Image]
    video: VideoInfo | None = None
    warnings: list[str] = field(default_factory=list)


def load_sequence(sequence: Path, restored: Path) -> LoadedSequence:
    """Read the input frames (a folder or a video) and, for each, the restored frame of that name."""
    video = None
    if is_video(sequence):
        inputs, video = read_video(sequence)
        names = [frame_name(i) for i in range(len(inputs))]
        warnings: list[str] = []
    else:
        paths = list_frames(sequence)
        inputs = [image.data for image in read_frames(paths, sequence)]
        names = [p.name for p in paths]
        warnings = numbering_gaps(names)
    if not restored.is_dir():
        raise DipbatchError(restored, "no such folder of restored frames")
    missing = [n for n in names if not (restored / n).is_file()]
    if missing:
        raise DipbatchError(restored, f"has no restored frame {missing[0]}"
                                      + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                                      + "; every input frame needs one, under the same name")
    results = read_frames([restored / n for n in names], restored)
    return LoadedSequence(sequence.name, names, inputs, results, video, warnings)


def _at_size(frames: list[np.ndarray], size: tuple[int, ...]) -> list[np.ndarray]:
    """Input frames resized (bilinear) to the results' size, when a task changed it (super-resolution)."""
    if frames[0].shape[-2:] == size:
        return frames
    batch = torch.from_numpy(np.nan_to_num(np.stack(frames).astype(np.float32)))
    resized = torch.nn.functional.interpolate(batch, size=size, mode="bilinear", align_corners=False)
    return list(resized.numpy())


def make_consistent(seq: LoadedSequence, options: TemporalOptions,
                    progress: EpochHook | None = None) -> list[np.ndarray]:
    frames = [image.data for image in seq.results]
    if options.method == "dvp":
        return deep_video_prior(seq.inputs, frames, options.dvp, resolve_device(options.device), progress)
    if options.method == "flow":
        return flow_filter(frames, options.radius, options.tolerance)
    if options.method == "none":
        return [f.copy() for f in frames]
    raise FieldError(f"`method` {options.method}", f"unknown method; choose one of {', '.join(METHODS)}")


def measure_sequence(seq: LoadedSequence, consistent: list[np.ndarray], method: str) -> TemporalReport:
    """Warping error and flicker of the input, the per-frame results and the consistent result."""
    frames = [image.data for image in seq.results]
    inputs = _at_size(seq.inputs, frames[0].shape[-2:])
    flows = sequence_flows(inputs)
    static = static_mask(inputs)
    versions = {"input": inputs, "frames": frames, "consistent": consistent}
    metrics = {name: measure(v, flows, static) for name, v in versions.items()}
    fidelity = np.array([psnr(np.nan_to_num(a), np.nan_to_num(b)) for a, b in zip(frames, consistent,
                                                                                   strict=True)])
    return TemporalReport(seq.name, method, seq.frame_names, metrics, fidelity, list(seq.warnings))


#: A pass "raises" a metric when its value exceeds the per-frame results' by more than this fraction.
RAISE_TOLERANCE = 0.01


def raised_metrics(figures: dict[str, object]) -> dict[str, tuple[float, float]]:
    """The metrics (warping error, flicker) the pass raised: name -> (per-frame, consistent)."""
    raised = {}
    for key, label in (("warp_error", "warping error"), ("flicker", "flicker")):
        before, after = (float(figures[f"{key}_{v}"]) for v in ("frames", "consistent"))  # type: ignore[arg-type]
        if math.isfinite(before) and math.isfinite(after) and after > before * (1 + RAISE_TOLERANCE):
            raised[label] = (before, after)
    return raised


def check_pass(seq: LoadedSequence, consistent: list[np.ndarray], options: TemporalOptions
               ) -> tuple[list[np.ndarray], TemporalReport]:
    """Measure the pass; if it raised a metric, say so and, with fallback, keep the per-frame frames."""
    report = measure_sequence(seq, consistent, options.method)
    raised = raised_metrics(report.figures())
    if not raised:
        return consistent, report
    what = " and ".join(f"the {name} ({before:.3g} -> {after:.3g})"
                        for name, (before, after) in raised.items())
    if options.fallback:
        frames = [image.data.copy() for image in seq.results]
        report = measure_sequence(seq, frames, options.method)
        report.check = CHECK_FELL_BACK
        report.warnings.append(f"the {options.method} pass raised {what}; the per-frame frames were kept "
                               "(fallback)")
        return frames, report
    report.check = CHECK_RAISED
    report.warnings.append(f"the {options.method} pass raised {what}; the fallback option keeps the "
                           "per-frame frames instead")
    return consistent, report


def guard_fidelity(seq: LoadedSequence, consistent: list[np.ndarray], options: TemporalOptions
                   ) -> tuple[list[np.ndarray], FidelityCheck | None]:
    """The pass at the strength that keeps its fidelity to the observations (temporal.fidelity)."""
    if not options.fidelity_guard or options.method == "none":
        return consistent, None
    frames = [image.data for image in seq.results]
    guard = guarded_strength(seq.inputs, frames, consistent)
    if guard is None:
        return consistent, None
    return blend(frames, consistent, guard.strength), guard


def note_guard(report: TemporalReport, guard: FidelityCheck, method: str) -> None:
    """The guard's figures in the report, and a warning when it weakened the pass."""
    report.strength, report.guard = guard.strength, guard.record()
    if guard.strength >= 1.0:
        return
    what = (f"the {method} pass took the frames' data-fit to {guard.full:.3g}× the noise floor (per-frame "
            f"{guard.frames:.3g}×), away from the observations")
    if guard.strength > 0:
        report.warnings.append(f"{what}; it was applied at {guard.strength:.0%} strength to keep fidelity")
        report.check = report.check if report.check != CHECK_OK else CHECK_WEAKENED
    else:
        report.warnings.append(f"{what}; the per-frame frames were kept")
        report.check = CHECK_FELL_BACK


def check_target(out: Path, sources: tuple[Path, ...], overwrite: bool) -> None:
    """OUT must be a new folder (or, with overwrite, an old one), apart from the inputs."""
    for source in sources:
        if out.resolve() == source.resolve():
            raise DipbatchError(out, "is an input folder; inputs are never modified")
    if out.exists() and not out.is_dir():
        raise DipbatchError(out, "exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FieldError(out, "exists already; pass `overwrite` to replace it")
    if not out.parent.is_dir():
        raise DipbatchError(out.parent, "output folder does not exist")


def run_temporal(sequence: Path, restored: Path, out: Path, options: TemporalOptions,
                 progress: Callable[[int, int, float], None] | None = None) -> TemporalReport:
    """Write the consistent frames of SEQUENCE into OUT, with the metrics, record and plot.

    OUT appears whole or not at all; for a video input, OUT also holds the re-encoded video.
    """
    check_target(out, (sequence, restored), options.overwrite)
    started = time.perf_counter()
    seq = load_sequence(sequence, restored)
    consistent, guard = guard_fidelity(seq, make_consistent(seq, options, progress), options)
    consistent, report = check_pass(seq, consistent, options)
    if guard is not None:
        note_guard(report, guard, options.method)
    report.wall_time_s = time.perf_counter() - started
    report.options = {**asdict(options), "dipbatch_version": __version__, "input": str(sequence),
                      "restored": str(restored)}
    with staged_folder(out) as stage:
        for name, image, data in zip(seq.frame_names, seq.results, consistent, strict=True):
            write_image(stage / name, data, image.source,
                        history=f"dipbatch {__version__}: temporal consistency, {options.method}")
        if seq.video is not None:
            write_video(stage / sequence.name, consistent, seq.video)
        write_report(stage, report)
    return report
