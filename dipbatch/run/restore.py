"""Restore image files: read, build each problem, fit (batched by size), write outputs and sidecars."""

from __future__ import annotations

import errno
import hashlib
import json
import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from dipbatch import __version__
from dipbatch.astro import AstroOptions, Frame, prepare
from dipbatch.errors import DipbatchError, FieldError
from dipbatch.fit import declip as declipping
from dipbatch.fit import dipsure, interrupt
from dipbatch.fit.checkpoint import load_checkpoint, remove_checkpoints, resumed, save_checkpoint
from dipbatch.fit.ensemble import check_ensemble, combine, member_seeds
from dipbatch.fit.fusion import FusionOptions, fuse
from dipbatch.fit.interrupt import Interrupted
from dipbatch.fit.loop import FitResult, Fitter, Observer
from dipbatch.fit.presets import Preset, preset_for_device
from dipbatch.fit.problem import Problem
from dipbatch.fit.spectral import SpectralRecorder
from dipbatch.fit.speed import SpeedOptions
from dipbatch.fit.stopping import RULE_FACTS, StopOptions, Stopper, make_stop_rule
from dipbatch.fit.tiling import TileCheckpoints, TilingOptions, fit_tiled
from dipbatch.fit.warmstart import WarmStartOptions
from dipbatch.io.atomic import temp_beside
from dipbatch.io.filenames import checkpoint_path
from dipbatch.io.images import DEFAULT_MAX_PIXELS, SUPPORTED_SUFFIXES, check_holdable, read_image, write_image
from dipbatch.io.sidecar import Sidecar, sha256_of, sidecar_bytes, sidecar_path
from dipbatch.physics import losses
from dipbatch.physics.metrics import flux_ratio, noise_sigma
from dipbatch.physics.operators import Blur
from dipbatch.physics.psf import normalise
from dipbatch.run.device import memory_bytes, resolve_device
from dipbatch.run.ensembles import resolve_ensemble
from dipbatch.run.progress import progress_bar
from dipbatch.tasks import TaskOptions, task_record
from dipbatch.tasks.problems import finish_estimate, make_problem, noise_datafit, task_preset


@dataclass(frozen=True)
class RestoreOptions:
    """Everything that decides a restoration's result, plus how to run it."""

    task: TaskOptions = field(default_factory=TaskOptions)
    stop: StopOptions = field(default_factory=StopOptions)
    speed: SpeedOptions = field(default_factory=SpeedOptions)
    astro: AstroOptions = field(default_factory=AstroOptions)
    tiling: TilingOptions = field(default_factory=TilingOptions)
    warm: WarmStartOptions = field(default_factory=WarmStartOptions)
    fusion: FusionOptions = field(default_factory=FusionOptions)  # denoising's classical partner
    dip_sure: str = "auto"  # denoising: half the ensemble DIP-SURE members where it pays (fit/dipsure.py)
    declip: str = "auto"  # denoising: undo clipped noise's bias in the estimate (fit/declip.py)
    preset: str = "auto"  # a PRESET_CHOICES name; auto: DEVICE_PRESETS[the device's kind]
    iterations: int | None = None
    seed: int = 0
    ensemble: int | None = None  # generators per image, seeds seed..seed+K-1; the output is their
    # mean. None (auto): DEVICE_ENSEMBLES[the device's kind], 1 for warm starts and tiled frames
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
    error: DipbatchError | None = None  # why this image failed, if it did
    record: Sidecar | None = None


@dataclass
class Job:
    """One image read for the fit: its outcome, the frame as read and observed, its problem."""

    outcome: Outcome
    frame: Frame
    problem: Problem


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
        raise FieldError(output, "exists already; pass `overwrite` to replace it")
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


Report = Callable[[Outcome], None]


def check_restore_options(options: RestoreOptions, device_kind: str) -> Preset:
    """Refuse option values that cannot work whatever the image, as one FieldError naming its field:
    the task's and its preset's, the ensemble's, the stop rule's, tiling's, fusion's. Return the recipe that
    runs on a device of `device_kind` (cpu, cuda)."""
    preset = task_preset(options.task, preset_for_device(options.preset, device_kind), options.iterations)
    check_ensemble(options.ensemble, warm_start=options.warm != WarmStartOptions())
    if RULE_FACTS[options.stop.rule].sigma and not task_record(options.task.kind).noise_floor:
        raise FieldError(f"`stop` {options.stop.rule}", f"{options.stop.rule.upper()} stopping needs the "
                                                        "denoise task (Gaussian noise)")
    options.tiling.check()
    options.fusion.check()
    dipsure.check_mode(options.dip_sure)
    declipping.check_mode(options.declip)
    return preset


def restore_files(pairs: list[tuple[Path, Path]], options: RestoreOptions,
                  report: Report | None = None) -> list[Outcome]:
    """Restore every (input, output) pair; a bad file fails only its own outcome.

    Every input is read and checked before the first fit; `report` gets each failed outcome then,
    and each other one as soon as its output is written (or fails to be). A signal stops the fit
    as `Interrupted`, naming its images, after saving its checkpoint (see `dipbatch.fit.interrupt`).
    """
    report = report or (lambda _: None)
    device = resolve_device(options.device)
    preset = check_restore_options(options, device.type)
    outcomes = [Outcome(Path(i), Path(o)) for i, o in pairs]
    inputs = _all_inputs(outcomes, options)
    groups: dict[tuple, list[Job]] = defaultdict(list)
    for outcome in outcomes:
        job = _prepare(outcome, options, inputs, report)
        if job is not None:
            groups[_group_key(job, options.tiling)].append(job)
    # the ensemble's refusals come before the first fit
    members = [_group_ensemble(group, preset, options, device) for group in groups.values()]
    for group, k in zip(groups.values(), members, strict=True):
        try:
            interrupt.raise_pending()
            _fit_group(group, preset, replace(options, ensemble=k), device, report)
        except Interrupted as stop:
            stop.images = [job.outcome.input for job in group]
            raise
    return outcomes


def check_inputs(pairs: list[tuple[Path, Path]], options: RestoreOptions,
                 report: Report) -> list[Outcome]:
    """Read and check every pair as `restore_files` does before its first fit, without fitting:
    an outcome per pair, the bad ones with their error set and given to `report` (for a caller
    that fits the good ones elsewhere)."""
    outcomes = [Outcome(Path(i), Path(o)) for i, o in pairs]
    inputs = _all_inputs(outcomes, options)
    for outcome in outcomes:
        _prepare(outcome, options, inputs, report)
    return outcomes


def _all_inputs(outcomes: list[Outcome], options: RestoreOptions) -> list[Path]:
    """Every file the run reads (images, mask, guide): no output may be one of them."""
    return [o.input for o in outcomes] + [p for p in (options.task.mask, options.task.guide) if p]


def _prepare(outcome: Outcome, options: RestoreOptions, inputs: list[Path], report: Report) -> Job | None:
    """The checked, read and prepared job of one pair; None, with the outcome's error set and
    reported, when its input or output is bad."""
    try:
        check_output(outcome.input, outcome.output, options.overwrite)
        check_apart_from_inputs(outcome.output, inputs, options.input_folders)
        image = read_image(outcome.input, hdu=options.astro.hdu_key, max_pixels=options.max_pixels)
        frame = prepare(image, options.astro)
        job = Job(outcome, frame, frame.problem(options.task))
        check_holdable(outcome.output, job.problem.channels, options.output_dtype or image.source.dtype)
        check_free_space(outcome.output, output_bytes(
            job.problem.channels + (image.source.alpha is not None), job.problem.size,
            options.output_dtype or image.source.dtype))
        return job
    except DipbatchError as exc:
        if options.debug:
            raise
        outcome.error = exc
    except MemoryError:
        if options.debug:
            raise
        outcome.error = DipbatchError(outcome.input, "not enough memory to prepare this image")
    report(outcome)
    return None


def _group_ensemble(group: list[Job], preset: Preset, options: RestoreOptions, device: torch.device) -> int:
    """The members per image of one group (images of one size, or one tiled frame)."""
    size = group[0].problem.size
    nets = len(group) * (1 + RULE_FACTS[options.stop.rule].twins)  # SURE fits a twin of each member
    return resolve_ensemble(options.ensemble, device.type, size, preset.name, memory_bytes(device),
                            task=options.task.kind, images=nets,
                            warm_start=options.warm != WarmStartOptions(), tiled=options.tiling.applies(size))


def _group_key(job: Job, tiling: TilingOptions) -> tuple:
    """Images of one size and channel count are fitted together; a tiled frame on its own."""
    size = job.problem.size
    return (size, job.problem.channels, job.outcome.output if tiling.applies(size) else None)


def stop_state(stopper: Stopper, images: int) -> str:
    """How the stop stands for a progress line: running, stopped at N, or k/n stopped."""
    stopped = sum(stopper.stopped[:images])
    if not stopped:
        return "running"
    return f"stopped at {stopper.stop_iteration[0]}" if images == 1 else f"{stopped}/{images} stopped"


def expected_stop(stopper: Stopper, fits: int) -> int | None:
    """Where the last running one of the first `fits` members is expected to stop (None: unknown)."""
    running = [k for k in range(fits) if not stopper.stopped[k]]
    expected = [e for e in (stopper.expected_stop(k) for k in running) if e is not None]
    return max(expected) if running and len(expected) == len(running) else None


def _fit_group(group: list[Job], preset: Preset, options: RestoreOptions, device: torch.device,
               report: Report) -> None:
    """Fit images of one size together (or one large frame in tiles), then write outputs and sidecars."""
    started = time.perf_counter()
    digests = [sha256_of(job.outcome.input) for job in group]
    ckpt = checkpoint_path(group[0].outcome.output)
    key = _job_key(digests, preset, options)
    label = group[0].outcome.input.name + (f" +{len(group) - 1}" if len(group) > 1 else "")
    if options.tiling.applies(group[0].problem.size):
        options.warm.refuse_tiling()
        results, notes = _fit_tiles(group[0], preset, options, device, label, ckpt, key)
    else:
        k = options.ensemble or 1
        seeds = member_seeds(options.seed, k)
        members = [job for job in group for _ in seeds]  # image i's members: i*k .. i*k+k-1
        sure = [_dip_sure_sigma(job, preset, options, k) for job in group]
        problems = [p for job, s in zip(group, sure, strict=True)
                    for p in dipsure.ensemble_problems(job.problem, k, s)]
        fitter, notes = _make_fitter(problems, members, seeds * len(group), preset, options, device)
        notes = options.warm.start(fitter, notes[::k])
        state = load_checkpoint(ckpt, key)
        if state is not None and resumed(ckpt, fitter.load_state_dict, state):
            notes = [{**note, "resumed_from_iteration": fitter.iteration} for note in notes]
        with progress_bar(label, fitter.cap, options.show_progress, start=fitter.iteration,
                          state=lambda: stop_state(fitter.stopper, len(group)),
                          expected=lambda: expected_stop(fitter.stopper, len(group) * k), members=k) as hook:
            results = fitter.run(progress=hook, checkpoint=lambda s: save_checkpoint(ckpt, key, s),
                                 checkpoint_every=options.checkpoint_every)
        options.warm.finish(fitter)
        results = [with_dip_sure(combine(results[i * k:(i + 1) * k], seeds, job.frame.to_image,
                                         _stored_span(job)), k, sure[i], fitter.base_cap)
                   for i, job in enumerate(group)]  # SURE's twins (after the members) are left out
    wall = (time.perf_counter() - started) / len(group)
    for job, digest, result, note in zip(group, digests, results, notes, strict=True):
        outcome, frame = job.outcome, job.frame
        result = _denoised(job, result, options)
        finished = finish_estimate(frame.image, job.problem, frame.to_image(result.estimate), options.task)
        record = _record(job, digest, result, preset, options, device, wall, len(group))
        record.update(note)  # type: ignore[typeddict-item]
        record.update(frame.record())  # type: ignore[typeddict-item]
        if "astro" in record:  # the flux check an astronomer looks for
            record["astro"]["flux_ratio"] = flux_ratio(frame.image.data, finished.data,
                                                       frame.image.source.value_range)
        try:
            write_image(outcome.output, finished.data, finished.source, dtype=options.output_dtype,
                        history=f"dipbatch {__version__}: {options.task.kind}, preset {preset.name}",
                        companions={sidecar_path(outcome.output): sidecar_bytes(record)})
        except DipbatchError as exc:  # the fit's checkpoint stays: a rerun resumes from it
            outcome.error = exc
            report(outcome)
            continue
        outcome.record = record
        report(outcome)
        remove_checkpoints(outcome.output)  # this run's, and any stale one left by another


def _fit_tiles(job: Job, preset: Preset, options: RestoreOptions, device: torch.device, label: str,
               ckpt: Path, key: str) -> tuple[list[FitResult], list[dict[str, Any]]]:
    """Fit one large frame tile by tile, each batch of tiles as `_make_fitter` builds it."""
    observed = job.problem.observation.shape[-2:]
    plan = options.tiling.plan((int(observed[0]), int(observed[1])), job.problem.size)
    tiles = TileCheckpoints(ckpt, key, plan)
    notes: list[dict[str, Any]] = []

    def make_fitter(problems: list[Problem]) -> Fitter:
        fitter, batch_notes = _make_fitter(problems, [job] * len(problems), [options.seed] * len(problems),
                                           preset, options, device)
        notes[:] = batch_notes[:1]
        return fitter

    with progress_bar(label, len(plan.batches), options.show_progress) as hook:
        result = fit_tiled(job.problem, plan, make_fitter, tiles, hook, options.checkpoint_every)
    return [result], notes or [{"stop_rule": options.stop.rule}]


def _make_fitter(problems: list[Problem], jobs: list[Job], seeds: list[int], preset: Preset,
                 options: RestoreOptions, device: torch.device) -> tuple[Fitter, list[dict[str, Any]]]:
    """The Fitter of `problems` (one per job and seed: an image, a tile of it, or an ensemble's
    member) with the chosen stopping rule and the spectral recorder; the notes go to the sidecars."""
    cap = preset.fit.iterations  # task_preset applied --iterations
    notes: list[dict[str, Any]] = [{"stop_rule": options.stop.rule} for _ in problems]
    sigmas: list[float | None]
    if RULE_FACTS[options.stop.rule].sigma:
        sigmas = list(_sure_sigmas(jobs, options, notes))
    else:  # auto's noise floor: a given --sigma, else estimated from each observation
        sigmas = [None if options.stop.sigma is None else options.stop.sigma / _value_span(job)
                  for job in jobs]
    record = task_record(options.task.kind)
    rule = make_stop_rule(options.stop, problems, cap, device, seed=options.seed, sigmas=sigmas,
                          denoising=record.noise_floor, discrepancy=record.discrepancy)
    if rule.twins is not None:
        problems = problems + [replace(p, observation=twin)
                               for p, twin in zip(problems, rule.twins, strict=True)]
        seeds = seeds + seeds  # a twin has its member's seed
    observations = torch.stack([p.observation for p in problems])
    # the spectral trajectory compares the estimate's bands with the observation's: not where the
    # sizes differ (super-resolution) or pixels are missing (inpainting: it would exceed 1 by far)
    spectral = observations.shape[-2:] == torch.Size(problems[0].size) and problems[0].weight is None
    observers: list[Observer] = [SpectralRecorder(observations.to(device), rule.limit)] if spectral else []
    fitter = Fitter(problems, preset, seeds, device, rule.stopper,
                    observers=observers, speed=options.speed, limit=rule.limit)
    return fitter, notes


def _dip_sure_sigma(job: Job, preset: Preset, options: RestoreOptions, members: int) -> float | None:
    """The σ (on [0,1]) of an image's DIP-SURE members, or None where it has none (fit/dipsure.py)."""
    mode = options.dip_sure if options.task.kind == "denoise" and options.astro.stretch == "none" else "off"
    given = None if options.stop.sigma is None else options.stop.sigma / _value_span(job)
    return dipsure.member_sigma(mode, preset, job.problem, members, options.stop.rule, given)


def with_dip_sure(result: FitResult, members: int, sure_sigma: float | None, cap: int) -> FitResult:
    """An image's combined result with `record["dip_sure"]` where it had DIP-SURE members."""
    if sure_sigma is None:
        return result
    return replace(result, record={**result.record, "dip_sure": dipsure.record(members, sure_sigma, cap)})


def _denoised(job: Job, result: FitResult, options: RestoreOptions) -> FitResult:
    """An image's fit result through its task's denoising steps, with the given σ and a stretch's
    reason not to."""
    sigma = None if options.stop.sigma is None else options.stop.sigma / _value_span(job)
    stretched = "a stretched frame's noise is not the same everywhere" \
        if options.astro.stretch != "none" else None
    return denoising_steps(result, job.problem, options.task.kind, options.fusion, options.declip,
                           sigma, stretched)


def denoising_steps(result: FitResult, problem: Problem, task: str, fusion: FusionOptions, declip: str,
                    sigma: float | None = None, unsupported: str | None = None) -> FitResult:
    """A denoising fit's result fused with the classical estimate, then declipped, as far as the
    task does either (other tasks: as it is); `sigma` a given Gaussian σ on [0,1]."""
    record = task_record(task)
    if record.fuses:
        result = fuse(result, problem, fusion, sigma, unsupported=unsupported)
    if record.declips:
        result = declipping.declip(result, problem, declip, sigma, unsupported=unsupported)
    return result


def _sure_sigmas(jobs: list[Job], options: RestoreOptions, notes: list[dict[str, Any]]) -> list[float]:
    """SURE's Gaussian σ per image on the [0,1] scale: given, or estimated; both noted for the sidecar."""
    sigmas = []
    for job, note in zip(jobs, notes, strict=True):
        if options.stop.sigma is not None:
            sigma, how = options.stop.sigma / _value_span(job), "given"
        else:
            sigma, how = noise_sigma(job.frame.observed.data) or 0.0, "estimated"
        sigmas.append(max(sigma, 1e-4))
        note.update(sure_sigma=sigma * _value_span(job), sure_sigma_source=how)
    return sigmas


def _stored_span(job: Job) -> float:
    """The width of the input's stored value range (the output's units)."""
    lo, hi = job.frame.image.source.value_range
    return hi - lo


def _value_span(job: Job) -> float:
    """The width of the image's stored value range: σ in stored units over it is σ on [0,1]."""
    lo, hi = job.frame.observed.source.value_range
    return hi - lo


def _job_key(digests: list[str], preset: Preset, options: RestoreOptions) -> str:
    """What a checkpoint must match to be resumed: the same inputs, recipe and seed."""
    payload = json.dumps([digests, preset.to_dict(), asdict(options.task), asdict(options.stop),
                          asdict(options.astro), asdict(options.tiling), options.iterations, options.seed,
                          options.ensemble, options.dip_sure],
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _record(job: Job, digest: str, result: FitResult, preset: Preset, options: RestoreOptions,
            device: torch.device, wall: float, batch: int) -> Sidecar:
    outcome, image = job.outcome, job.frame.observed
    task = task_record(options.task.kind)
    noisy = task.noise_floor
    record: dict[str, Any] = {
        "dipbatch_version": __version__,
        "input": str(outcome.input),
        "input_sha256": digest,
        "output": str(outcome.output),
        "task": options.task.kind,
        "preset": preset.name,
        "params": {"task_options": asdict(options.task), "stop_options": asdict(options.stop),
                   "astro_options": asdict(options.astro), "tiling_options": asdict(options.tiling),
                   "fusion_options": asdict(options.fusion),
                   "preset": preset.to_dict(),
                   "output_dtype": options.output_dtype, "ensemble": options.ensemble,
                   "dip_sure": options.dip_sure, "declip": options.declip},
        "seed": options.seed,
        "device": str(device),
        "batch_size": batch,
        "iterations": result.iterations,
        "stop_iteration": result.stop_iteration,
        "stop_reason": result.stop_reason,
        "stop_kind": result.stop_kind,
        "stop_signal": result.stop_signal,
        "wall_time_s": round(wall, 3),
        "final_loss": result.final_loss,
        "guard_restores": result.restores,
        "loss_curve": result.loss_curve,
        # a noise level means something only where the task has noise to remove (not holes, not blur)
        "sigma_input": noise_sigma(image.data) if noisy else None,
        "sigma_output": noise_sigma(result.estimate) if noisy else None,
        **task.facts(options.task),
        **result.record,
    }
    return cast(Sidecar, record)  # the fit's own curves and choices complete the typed record


def restore_array(observation: np.ndarray, *, task: str = "denoise", preset: str = "auto",
                  net: str | None = None, factor: int | None = None, mask: np.ndarray | None = None,
                  guide: np.ndarray | None = None, iterations: int | None = None, seed: int = 0,
                  stop: str = "auto", device: str = "auto", ensemble: int | None = None,
                  noise: str = "gaussian", gain: float = 1.0, fusion: str = "auto",
                  fusion_weight: float | None = None, psf: str | np.ndarray | None = None,
                  dip_sure: str = "auto", declip: str = "auto") -> FitResult:
    """Restore a C×H×W float array in [0,1] without touching files (for notebooks).

    inpaint takes `mask` (1 = known pixel), flash takes `guide` (the flash image); sr returns an
    estimate `factor` times larger. `stop` is "auto" (the CLI's default) or "fixed"; `iterations`
    is the cap. The estimate is the fit's own output, known pixels included. `ensemble` K > 1 fits
    K generators (seeds seed..seed+K-1) and returns their mean, with `record["ensemble"]`.
    deblur takes `psf`, a model ("gaussian:fwhm=3.2") or a file's path or a 2-D kernel array, and
    returns an estimate larger by the PSF's size less one (the observation is its "valid" blur),
    on [0,1] like the observation (the CLI lets a float image's estimate reach above its brightest
    pixel, deblur.DEBLUR_HEADROOM; below 1 it applies here too).
    `noise` "poisson" fits photon counts: the observation times `gain` is the count of each pixel.
    Denoising fuses the fit's estimate with `fusion`'s classical one ("off": the fit alone), the
    fit's share `fusion_weight` (None: the tuned default); `record["fusion"]` says how.
    `dip_sure` "auto" makes half of a denoising ensemble DIP-SURE members where that was measured to
    pay (the fast net, Gaussian noise up to σ 16/255; fit/dipsure.py), `record["dip_sure"]`; "off": none.
    `declip` "auto" undoes the bias of noise clipped at 0 or 1 in a denoised estimate where the
    observation was clipped (fit/declip.py), `record["declip"]`; "off": never.
    The defaults are the CLI's: `preset` "auto" is the device's (fast on a CPU, paper on CUDA),
    `ensemble` None is the device's K for denoising and deblurring (2 on a CPU, 4 on CUDA, fewer
    where memory is short) and 1 for the other tasks.
    """
    fusion_options = FusionOptions(fusion=fusion, fusion_weight=fusion_weight)
    fusion_options.check()
    dipsure.check_mode(dip_sure)
    declipping.check_mode(declip)
    if stop not in ("auto", "fixed"):
        raise ValueError(f"stop must be 'auto' or 'fixed', not {stop!r} (sure: use dipbatch restore)")
    check_ensemble(ensemble)
    counts = noise != "gaussian"
    kernel = psf if isinstance(psf, np.ndarray) else None
    options = TaskOptions(kind=task, net=net, factor=factor, noise=noise, gain=gain if counts else None,
                          offset=0.0 if counts else None, psf=psf if isinstance(psf, str) else None)
    record = task_record(task)
    torch_device = resolve_device(device)
    recipe = task_preset(options, preset_for_device(preset, torch_device.type), iterations)
    datafit = noise_datafit(noise, losses.Photometry(gain=gain))
    if kernel is not None and "psf" not in record.options:
        raise FieldError("`psf`", f"is not used by `task` {task}")
    operator = Blur(normalise(kernel, "psf")) if kernel is not None else None
    problem = make_problem(np.asarray(observation, np.float32), options, mask=mask, guide=guide,
                           datafit=datafit, operator=operator)
    ensemble = resolve_ensemble(ensemble, torch_device.type, problem.size, recipe.name,
                                memory_bytes(torch_device), task=task)
    seeds = member_seeds(seed, ensemble)
    sure = dipsure.member_sigma(dip_sure if task == "denoise" else "off", recipe, problem, ensemble, stop)
    problems = dipsure.ensemble_problems(problem, ensemble, sure)
    rule = make_stop_rule(StopOptions(rule=stop), problems, recipe.fit.iterations, torch_device,
                          seed=seed, denoising=record.noise_floor, discrepancy=record.discrepancy)
    fitter = Fitter(problems, recipe, seeds, torch_device, rule.stopper, limit=rule.limit)
    result = with_dip_sure(combine(fitter.run(), seeds), ensemble, sure, fitter.base_cap)
    return denoising_steps(result, problem, task, fusion_options, declip)
