"""What a workflow configuration costs before it is submitted (`dipbatch plan`): per dataset the
images, their megapixels, the preset, and the fit time and GPU-hours estimated from a few timed steps.

The estimate of one image is (seconds per step, timed at the dataset's median size) × (its fitted
pixels ÷ the median's) × the iteration cap. The cap is an upper bound: the automatic stop usually
ends a denoising fit earlier (TYPICAL_AUTO_STOP).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from dipbatch.errors import DipbatchError, warn
from dipbatch.fit.presets import preset_for_device
from dipbatch.fit.tiling import TilePlan, TilingOptions
from dipbatch.io.images import image_size, read_image
from dipbatch.physics.psf import is_model
from dipbatch.run.calibration import synthetic_problem, time_steps
from dipbatch.tasks import TaskOptions, task_record
from dipbatch.tasks.problems import task_preset
from dipbatch.workflow.config import dataset_ensemble
from dipbatch.workflow.discovery import dataset_images, refused_files

#: The iterations `auto` ran on average on the stopping benchmark's held-out half (128 px, `fast`,
#: σ 15/25/50 and Poisson, cap 2000; benchmarks/RESULTS.md, "The stopping benchmark"): the typical
#: end of an automatically stopped denoising fit whose cap is above it.
TYPICAL_AUTO_STOP = 1334


@dataclass(frozen=True)
class Survey:
    """A dataset as its configuration and its files' headers give it, before any timing."""

    name: str
    task: TaskOptions
    preset: str
    cap: int
    ensemble: int
    gpus: int  # GPUs per job (the preset's resources)
    paths: list[Path]
    sizes: list[tuple[int, int]]  # (height, width) of each image, from its header
    tiling: TilingOptions
    auto_stop: bool  # a denoising fit with the automatic stop: it usually ends before the cap
    hdu: str | None = None

    @property
    def megapixels(self) -> float:
        return sum(h * w for h, w in self.sizes) / 1e6

    def median(self) -> int:
        """The index of the image of median pixel count."""
        order = sorted(range(len(self.sizes)), key=lambda i: self.sizes[i][0] * self.sizes[i][1])
        return order[len(order) // 2]

    def fitted_pixels(self, size: tuple[int, int]) -> int:
        """Pixels a fit of this size computes: the whole frame, or the sum of its tiles."""
        if not self.tiling.applies(size):
            return size[0] * size[1]
        return sum(box.height * box.width for box in TilePlan(size, self.tiling).boxes)


def _option(options: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """A dataset's `options:` value, written with underscores or dashes."""
    return options.get(key, options.get(key.replace("_", "-"), default))


#: The PSF a plan times deblurring with where each image has its own: the cost of a step, not its
#: result, and a kernel of typical size.
STAND_IN_PSF = "gaussian:fwhm=3"


def _timed_psf(psf: str | None) -> str | None:
    """The dataset's PSF as the plan times it: a model or a file as it is, else a stand-in."""
    if psf is None or is_model(psf) or ("{stem}" not in psf and Path(psf).is_file()):
        return psf
    return STAND_IN_PSF


def survey(name: str, dataset: Mapping[str, Any], resources: Mapping[str, Any], device_kind: str) -> Survey:
    """The images of one validated dataset and their sizes, its preset as it runs on `device_kind`
    (`auto` resolved); an unreadable header is warned about and left out (its job would fail on it)."""
    options = dataset["options"]
    task = TaskOptions(kind=dataset["task"], net=_option(options, "net"), factor=_option(options, "factor"),
                       psf=_timed_psf(dataset.get("psf")))
    name_of_preset = preset_for_device(dataset["preset"], device_kind)
    preset = task_preset(task, name_of_preset, dataset.get("iterations"))
    hdu = _option(options, "hdu")
    found = dataset_images(name, dataset)
    refused = refused_files(dataset["input"], found)
    paths, sizes = [], []
    for rel in (rel for rel in found if rel not in refused):
        path = Path(dataset["input"]) / rel
        try:
            sizes.append(image_size(path, hdu=hdu))
        except DipbatchError as exc:
            warn(exc.where, f"{exc.problem}; left out of the plan")
            continue
        paths.append(path)
    defaults = TilingOptions()
    tiling = TilingOptions(tile=int(_option(options, "tile", defaults.tile)),
                           tile_overlap=int(_option(options, "tile_overlap", defaults.tile_overlap)),
                           tile_batch=int(_option(options, "tile_batch", defaults.tile_batch)))
    return Survey(name=name, task=task, preset=name_of_preset, cap=preset.fit.iterations,
                  ensemble=dataset_ensemble(dataset, device_kind), gpus=resources[name_of_preset]["gpu"],
                  paths=paths, sizes=sizes, tiling=tiling, hdu=hdu,
                  auto_stop=task_record(task.kind).noise_floor and _option(options, "stop", "auto") == "auto")


@dataclass
class DatasetPlan:
    """One dataset's line of the plan; times in seconds, for the device it was calibrated on."""

    dataset: str
    images: int
    megapixels: float
    task: str
    preset: str
    ensemble: int
    cap: int
    median_size: list[int] | None  # [height, width] of the image timed (None: no image)
    step_s: float  # one step at the median size (all members, or one batch of its tiles)
    per_image_s: float  # the median image, to the cap
    total_s: float  # every image, to the cap
    typical_total_s: float | None  # every image, to the benchmark's typical automatic stop
    gpu_hours: float  # total_s as GPU-hours (GPUs per job × hours)


@dataclass
class Plan:
    device: str  # what the steps were timed on, in words
    device_type: str  # cpu | cuda
    config_device: str  # the configuration's device: auto | cpu | cuda
    datasets: list[DatasetPlan] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, float | int | None]:
        typical = [d.typical_total_s if d.typical_total_s is not None else d.total_s for d in self.datasets]
        return {"images": sum(d.images for d in self.datasets),
                "megapixels": sum(d.megapixels for d in self.datasets),
                "total_s": sum(d.total_s for d in self.datasets),
                "typical_total_s": sum(typical),
                "gpu_hours": sum(d.gpu_hours for d in self.datasets)}

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "device_type": self.device_type, "config_device": self.config_device,
                "datasets": [asdict(d) for d in self.datasets], "totals": self.totals}


#: Seconds per step for a (task, preset, size, channels, members) on the plan's device.
Timer = Callable[[TaskOptions, str, tuple[int, int], int, int], float]


def step_timer(device: torch.device, steps: int, threads: int | None) -> Timer:
    """A timer that times each distinct net and size once per plan (the cache lives with it): a
    step costs the same whatever the cap."""
    cache: dict[tuple, float] = {}

    def timed(task: TaskOptions, preset: str, size: tuple[int, int], channels: int, members: int) -> float:
        key = (task, preset, size, channels, members)
        if key not in cache:
            recipe = task_preset(task, preset)
            problems = [synthetic_problem(task, channels, size, seed=k) for k in range(members)]
            cache[key] = time_steps(recipe, problems, device, steps=steps, threads=threads)
        return cache[key]

    return timed


def estimate(survey: Survey, timer: Timer) -> DatasetPlan:
    """One dataset's plan: time its median image's fit (or one batch of its tiles) and scale."""
    if not survey.sizes:
        return DatasetPlan(survey.name, 0, 0.0, survey.task.kind, survey.preset, survey.ensemble, survey.cap,
                           None, 0.0, 0.0, 0.0, None if not survey.auto_stop else 0.0, 0.0)
    median = survey.median()
    size = survey.sizes[median]
    channels = int(read_image(survey.paths[median], hdu=survey.hdu).data.shape[0])
    if survey.tiling.applies(size):
        batch = TilePlan(size, survey.tiling).batches[0]  # the first batch holds full-size tiles
        timed_size, members, ensemble = (batch[0].height, batch[0].width), len(batch), 1
    else:
        timed_size, members, ensemble = size, survey.ensemble, survey.ensemble
    step = timer(survey.task, survey.preset, timed_size, channels, members)
    per_pixel = step / (timed_size[0] * timed_size[1] * members) * ensemble
    total_steps = sum(survey.fitted_pixels(s) for s in survey.sizes) * per_pixel  # one step of every image
    typical = total_steps * min(survey.cap, TYPICAL_AUTO_STOP) if survey.auto_stop else None
    return DatasetPlan(
        dataset=survey.name, images=len(survey.sizes), megapixels=survey.megapixels, task=survey.task.kind,
        preset=survey.preset, ensemble=ensemble, cap=survey.cap, median_size=list(size),
        step_s=step, per_image_s=survey.fitted_pixels(size) * per_pixel * survey.cap,
        total_s=total_steps * survey.cap, typical_total_s=typical,
        gpu_hours=total_steps * survey.cap / 3600 * survey.gpus)


def device_words(device: torch.device, threads: int | None) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    threads = threads or torch.get_num_threads()
    return f"CPU, {threads} thread{'s' if threads > 1 else ''} per job"


def make_plan(config: Mapping[str, Any], device: torch.device, steps: int = 3) -> Plan:
    """The plan of a validated configuration (dipbatch.workflow.config.read_config)."""
    threads = config["threads"] if device.type == "cpu" else None
    timer = step_timer(device, steps, threads)
    plan = Plan(device=device_words(device, threads), device_type=device.type, config_device=config["device"])
    for name, dataset in config["datasets"].items():
        plan.datasets.append(estimate(survey(name, dataset, config["resources"], device.type), timer))
    return plan


def caveats(plan: Plan) -> list[str]:
    """What the figures mean: the cap as an upper bound, and the device they hold for."""
    lines = ["times run to each dataset's iteration cap: an upper bound; the automatic stop usually "
             f"ends a denoising fit earlier (typical: {TYPICAL_AUTO_STOP} iterations on the stopping "
             "benchmark, benchmarks/RESULTS.md)"]
    where = f"calibrated on this machine's {plan.device}"
    if plan.device_type == "cpu" and plan.config_device in ("auto", "cuda"):
        where += (f"; the configuration's device is {plan.config_device}: on a cluster's GPUs the fits "
                  "run faster, so run dipbatch plan on a GPU node for their figures")
    elif plan.device_type == "cuda":
        where += ": another GPU model takes another time"
    return [*lines, where]
