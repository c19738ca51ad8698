"""Restore image files: read, build each problem, fit (batched by size), write outputs and sidecars."""

from __future__ import annotations

import errno
import hashlib
import json
import shutil
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dipbatch import __version__
from dipbatch.astro import AstroOptions, Frame, prepare
from dipbatch.atomic import temp_beside
from dipbatch.checkpoint import checkpoint_path, load_checkpoint, remove_checkpoints, save_checkpoint
from dipbatch.errors import DipbatchError
from dipbatch.fit import FitResult, Fitter, Problem
from dipbatch.imageio import DEFAULT_MAX_PIXELS, SUPPORTED_SUFFIXES, Image, read_image, write_image
from dipbatch.metrics import noise_sigma
from dipbatch.presets import Preset
from dipbatch.progress import progress_bar
from dipbatch.sidecar import sha256_of, sidecar_bytes, sidecar_path
from dipbatch.spectral import SpectralRecorder
from dipbatch.speed import SpeedOptions
from dipbatch.stopping import FixedStop, MonteCarloSure, StopOptions, Stopper, WindowedVariance
from dipbatch.tasks import TaskOptions, finish_estimate, make_problem, task_preset
from dipbatch.temporal.warmstart import WarmStartOptions
from dipbatch.tiling import TileCheckpoints, TilePlan, TilingOptions, fit_tiled

SURE_EPSILON = 1e-3  # the Monte-Carlo divergence step, on the [0,1] scale


@dataclass(frozen=True)
class RestoreOptions:
    """Everything that decides a restoration's result, plus how to run it."""

    task: TaskOptions = field(default_factory=TaskOptions)
    stop: StopOptions = field(default_factory=StopOptions)
    speed: SpeedOptions = field(default_factory=SpeedOptions)
    astro: AstroOptions = field(default_factory=AstroOptions)
    tiling: TilingOptions = field(default_factory=TilingOptions)
    warm: WarmStartOptions = field(default_factory=WarmStartOptions)
    preset: str = "paper"
    iterations: int | None = None
    seed: int = 0
    device: str = "auto"
    output_dtype: str | None = None
    overwrite: bool = False
    input_folders: tuple[Path, ...] = ()  # folders the inputs come from: no output may go inside
    max_pixels: int = DEFAULT_MAX_PIXELS  # inputs with more pixels are refused before decoding
    checkpoint_every: int = 500
    show_progress: bool = True
    debug: bool = False  # let errors propagate with their traceback


@dataclass
class Outcome:
    input: Path
    output: Path
    error: str | None = None
    record: dict[str, Any] | None = None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DipbatchError("--device cuda", "no CUDA device is available")
    return torch.device(name)


def check_output(input_path: Path, output: Path, overwrite: bool) -> None:
    """Refuse an output that would clobber the input, an existing file, or an unwritable folder."""
    if not output.name.lower().endswith(tuple(SUPPORTED_SUFFIXES)):
        raise DipbatchError(output, f"unsupported output type '{output.suffix}'; "
                                    f"use one of {', '.join(sorted(SUPPORTED_SUFFIXES))}")
    if output.resolve() == input_path.resolve():
        raise DipbatchError(output, "output path is the input file; inputs are never modified")
    if output.is_dir():
        raise DipbatchError(output, "is a folder, not an output file")
    if output.exists() and not overwrite:
        raise DipbatchError(output, "exists already; pass --overwrite to replace it")
    if not output.parent.is_dir():
        raise DipbatchError(output.parent, "output folder does not exist")
    for longest in (sidecar_path(output), checkpoint_path(output)):  # the longest temporary names
        try:
            temp_beside(longest).unlink()
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise DipbatchError(output, "file name too long: the temporary files beside it need "
                                            "about 30 more characters; shorten it") from None
            raise DipbatchError(output.parent, "output folder is not writable") from None


SIDECAR_ALLOWANCE = 64 * 1024  # bytes: a sidecar with its loss curve and settings, generously


def output_bytes(channels: int, size: tuple[int, int], dtype: str) -> int:
    """The most an output of these samples takes on disk (uncompressed), with its sidecar."""
    return channels * size[0] * size[1] * np.dtype(dtype).itemsize + SIDECAR_ALLOWANCE


def check_free_space(output: Path, needed: int) -> None:
    """Refuse, before the fit, an output whose folder has less free space than `needed` bytes."""
    free = shutil.disk_usage(output.parent).free
    if free < needed:
        raise DipbatchError(output, f"not enough free space: the output needs about {needed:,} bytes, "
                                    f"its folder has {free:,}")


def check_apart_from_inputs(output: Path, inputs: list[Path], folders: tuple[Path, ...]) -> None:
    """Refuse an output that is one of the inputs or lies inside a folder the inputs come from."""
    where = output.resolve()
    for path in inputs:
        if where == path.resolve():
            raise DipbatchError(output, f"output path is the input {path}; inputs are never modified")
    for folder in folders:
        if where.is_relative_to(folder.resolve()):
            raise DipbatchError(output, f"output path is inside the input folder {folder}; "
                                        "write results outside every input folder")


def restore_files(pairs: list[tuple[Path, Path]], options: RestoreOptions) -> list[Outcome]:
    """Restore every (input, output) pair; a bad file fails only its own outcome."""
    device = resolve_device(options.device)
    preset = task_preset(options.task, options.preset, options.iterations)
    outcomes = [Outcome(Path(i), Path(o)) for i, o in pairs]
    inputs = [o.input for o in outcomes] + [p for p in (options.task.mask, options.task.guide) if p]
    loaded: list[tuple[Outcome, Image, Problem]] = []
    frames: dict[Path, Frame] = {}  # by output: the image as read, and how to map the fit back
    for outcome in outcomes:
        try:
            check_output(outcome.input, outcome.output, options.overwrite)
            check_apart_from_inputs(outcome.output, inputs, options.input_folders)
            image = read_image(outcome.input, hdu=options.astro.hdu_key, max_pixels=options.max_pixels)
            frame = prepare(image, options.astro)
            problem = frame.problem(options.task)
            check_free_space(outcome.output, output_bytes(
                problem.channels + (image.source.alpha is not None), problem.size,
                options.output_dtype or image.source.dtype))
            loaded.append((outcome, frame.observed, problem))
            frames[outcome.output] = frame
        except DipbatchError as exc:
            if options.debug:
                raise
            outcome.error = str(exc)
        except MemoryError:
            if options.debug:
                raise
            outcome.error = f"{outcome.input}: not enough memory to prepare this image"
    groups: dict[tuple, list[tuple[Outcome, Image, Problem]]] = defaultdict(list)
    for item in loaded:
        tiled = options.tiling.applies(item[2].size)  # a tiled frame is fitted on its own
        groups[(item[2].size, item[2].channels, item[0].output if tiled else None)].append(item)
    for group in groups.values():
        _fit_group(group, frames, preset, options, device)
    return outcomes


def _fit_group(group: list[tuple[Outcome, Image, Problem]], frames: dict[Path, Frame], preset: Preset,
               options: RestoreOptions, device: torch.device) -> None:
    """Fit images of one size together (or one large frame in tiles), then write outputs and sidecars."""
    started = time.perf_counter()
    digests = [sha256_of(o.input) for o, _, _ in group]
    ckpt = checkpoint_path(group[0][0].output)
    key = _job_key(digests, preset, options)
    label = group[0][0].input.name + (f" +{len(group) - 1}" if len(group) > 1 else "")
    if options.tiling.applies(group[0][2].size):
        options.warm.refuse_tiling()
        results, notes = _fit_tiles(group, preset, options, device, label, ckpt, key)
    else:
        fitter, notes = _make_fitter(group, preset, options, device)
        notes = options.warm.start(fitter, notes)
        state = load_checkpoint(ckpt, key)
        if state is not None:
            fitter.load_state_dict(state)
            notes = [{**note, "resumed_from_iteration": state["iteration"]} for note in notes]
        with progress_bar(label, fitter.cap, options.show_progress) as hook:
            results = fitter.run(progress=hook, checkpoint=lambda s: save_checkpoint(ckpt, key, s),
                                 checkpoint_every=options.checkpoint_every)
        options.warm.finish(fitter)
    wall = (time.perf_counter() - started) / len(group)
    for (outcome, image, problem), digest, result, note in zip(group, digests, results, notes, strict=False):
        frame = frames[outcome.output]
        finished = finish_estimate(frame.image, problem, frame.to_image(result.estimate), options.task)
        record = _record(outcome, image, digest, result, preset, options, device, wall, len(group))
        record.update(note)
        record.update(frame.record())
        try:
            write_image(outcome.output, finished.data, finished.source, dtype=options.output_dtype,
                        history=f"dipbatch {__version__}: {options.task.task}, preset {preset.name}",
                        companions={sidecar_path(outcome.output): sidecar_bytes(record)})
        except DipbatchError as exc:  # the fit's checkpoint stays: a rerun resumes from it
            outcome.error = str(exc)
            continue
        outcome.record = record
        remove_checkpoints(outcome.output)  # this run's, and any stale one left by another


def _fit_tiles(group: list[tuple[Outcome, Image, Problem]], preset: Preset, options: RestoreOptions,
               device: torch.device, label: str, ckpt: Path,
               key: str) -> tuple[list[FitResult], list[dict[str, Any]]]:
    """Fit the group's one large frame tile by tile, each batch of tiles as `_make_fitter` builds it."""
    (outcome, image, problem), = group
    plan = TilePlan(problem.size, options.tiling)
    tiles = TileCheckpoints(ckpt, key, plan)
    notes: list[dict[str, Any]] = []

    def make_fitter(problems: list[Problem]) -> Fitter:
        fitter, batch_notes = _make_fitter([(outcome, image, p) for p in problems], preset, options, device)
        notes[:] = batch_notes[:1]
        return fitter

    with progress_bar(label, len(plan.batches), options.show_progress) as hook:
        result = fit_tiled(problem, plan, make_fitter, tiles, hook, options.checkpoint_every)
    return [result], notes or [{"stop_rule": options.stop.stop}]


def _make_fitter(group: list[tuple[Outcome, Image, Problem]], preset: Preset, options: RestoreOptions,
                 device: torch.device) -> tuple[Fitter, list[dict[str, Any]]]:
    """The Fitter with the chosen stopping rule and the spectral recorder; notes go to the sidecars."""
    problems = [p for _, _, p in group]
    stop = options.stop
    cap = preset.fit.iterations  # task_preset applied --iterations
    notes: list[dict[str, Any]] = [{"stop_rule": stop.stop} for _ in problems]
    if stop.stop == "sure":
        _, patience, min_start = stop.resolved(cap)
        problems, stopper = _sure_twins(group, cap, patience, min_start, options, device, notes)
    else:
        stopper = _plain_stopper(stop, problems, cap, device, options.seed)
    observations = torch.stack([p.observation for p in problems])
    observers = [SpectralRecorder(observations.to(device), cap)] \
        if observations.shape[-2:] == torch.Size(problems[0].size) else []
    fitter = Fitter(problems, preset, [options.seed] * len(problems), device, stopper, cap,
                    observers=observers, speed=options.speed)
    return fitter, notes


def _plain_stopper(stop: StopOptions, problems: list[Problem], cap: int, device: torch.device,
                   seed: int) -> Stopper:
    """The `fixed` or `auto` rule for these problems (`sure` needs twin problems: _sure_twins)."""
    if stop.stop == "fixed":
        return FixedStop(len(problems))
    window, patience, min_start = stop.resolved(cap)
    shape = (problems[0].channels, *problems[0].size)
    return WindowedVariance(len(problems), cap, window, patience, min_start, shape, device, seed=seed)


def _sure_twins(group: list[tuple[Outcome, Image, Problem]], cap: int, patience: int, min_start: int,
                options: RestoreOptions, device: torch.device,
                notes: list[dict[str, Any]]) -> tuple[list[Problem], Stopper]:
    """SURE fits each image twice, on y and on y + εb, to estimate the divergence."""
    if options.task.task != "denoise":
        raise DipbatchError("--stop sure", "SURE stopping needs the denoise task (Gaussian noise)")
    problems = [p for _, _, p in group]
    sigmas = []
    for (_, image, _), note in zip(group, notes, strict=True):
        lo, hi = image.source.value_range
        if options.stop.sigma is not None:
            sigma, how = options.stop.sigma / (hi - lo), "given"
        else:
            sigma, how = noise_sigma(image.data) or 0.0, "estimated"
        sigmas.append(max(sigma, 1e-4))
        note.update(sure_sigma=sigma * (hi - lo), sure_sigma_source=how)
    gen = torch.Generator().manual_seed(options.seed + 2)
    probes = torch.stack([torch.randn(p.observation.shape, generator=gen) for p in problems])
    epsilon = SURE_EPSILON
    twins = [replace(p, observation=p.observation + epsilon * b)
             for p, b in zip(problems, probes, strict=True)]
    stopper = MonteCarloSure(len(problems), cap, patience, min_start,
                             torch.stack([p.observation for p in problems]), probes, sigmas, epsilon, device)
    return problems + twins, stopper


def _job_key(digests: list[str], preset: Preset, options: RestoreOptions) -> str:
    """What a checkpoint must match to be resumed: the same inputs, recipe and seed."""
    payload = json.dumps([digests, preset.to_dict(), asdict(options.task), asdict(options.stop),
                          asdict(options.astro), asdict(options.tiling), options.iterations, options.seed],
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _record(outcome: Outcome, image: Image, digest: str, result: FitResult, preset: Preset,
            options: RestoreOptions, device: torch.device, wall: float, batch: int) -> dict[str, Any]:
    return {
        "dipbatch_version": __version__,
        "input": str(outcome.input),
        "input_sha256": digest,
        "output": str(outcome.output),
        "task": options.task.task,
        "preset": preset.name,
        "params": {"task_options": asdict(options.task), "stop_options": asdict(options.stop),
                   "astro_options": asdict(options.astro), "tiling_options": asdict(options.tiling),
                   "preset": preset.to_dict(),
                   "output_dtype": options.output_dtype},
        "seed": options.seed,
        "device": str(device),
        "batch_size": batch,
        "iterations": result.iterations,
        "stop_iteration": result.stop_iteration,
        "stop_reason": result.stop_reason,
        "wall_time_s": round(wall, 3),
        "final_loss": result.final_loss,
        "guard_restores": result.restores,
        "loss_curve": result.loss_curve,
        "sigma_input": noise_sigma(image.data),
        "sigma_output": noise_sigma(result.estimate),
        **result.record,
    }


def restore_array(observation: np.ndarray, *, task: str = "denoise", preset: str = "fast",
                  net: str | None = None, factor: int | None = None, mask: np.ndarray | None = None,
                  guide: np.ndarray | None = None, iterations: int | None = None, seed: int = 0,
                  stop: str = "auto", device: str = "auto") -> FitResult:
    """Restore a C×H×W float array in [0,1] without touching files (for notebooks).

    inpaint takes `mask` (1 = known pixel), flash takes `guide` (the flash image); sr returns an
    estimate `factor` times larger. `stop` is "auto" (the CLI's default) or "fixed"; `iterations`
    is the cap. The estimate is the fit's own output, known pixels included.
    """
    if stop not in ("auto", "fixed"):
        raise ValueError(f"stop must be 'auto' or 'fixed', not {stop!r} (sure: use dipbatch restore)")
    options = TaskOptions(task=task, net=net, factor=factor)
    recipe = task_preset(options, preset, iterations)
    problem = make_problem(np.asarray(observation, np.float32), options, mask=mask, guide=guide)
    torch_device = resolve_device(device)
    stopper = _plain_stopper(StopOptions(stop=stop), [problem], recipe.fit.iterations, torch_device, seed)
    return Fitter([problem], recipe, [seed], torch_device, stopper).run()[0]
