"""How many members an image gets: `ensemble` auto per device and task, halved to fit in memory, and
the refusals of a K that cannot run (a tiled frame, a batch over the device's memory)."""

from __future__ import annotations

from collections.abc import Callable

from dipbatch.errors import FieldError
from dipbatch.tasks import task_record

# The number of members where `ensemble` is left to the device (None: "auto"), chosen from the
# quality-per-second frontier of denoising (benchmarks/frontier.py, RESULTS.md): the least time
# within 0.3 dB of the best point. On a CPU members run one after another (K times the time) and
# 2 is that point (+0.35 dB); on CUDA K members of one image cost about what one does (a step is
# bound by launch overhead, not arithmetic) and 4 is (+0.5 dB for 1.05-1.2x the time). Deblurring
# takes the same numbers (2 members: +0.5 dB, benchmarks/deconvolution.py); the tasks whose gains
# are not measured (`Task.ensembles` false) get 1.
DEVICE_ENSEMBLES = {"cpu": 2, "cuda": 4}

# Memory per member and megapixel of the image, by preset: the workflow's cluster resource
# defaults (config.schema.yaml `resources`), which hold with room to spare on CPU and CUDA.
MEMORY_MB_PER_MPX = {"paper": 8000, "fast": 4000, "tiny": 2000}


def refuse_tiling(ensemble: int) -> None:
    """Refuse an ensemble of a tiled frame: it is fitted tile by tile, each tile by one net."""
    if ensemble > 1:
        raise FieldError(f"`ensemble` {ensemble}", "does not combine with tiling: this frame is "
                                                   "larger than `tile`; use `tile` 0 or `ensemble` 1")


def default_ensemble(device: str, *, task: str = "denoise", warm_start: bool = False, tiled: bool = False,
                     fits: Callable[[int], bool] = lambda k: True) -> int:
    """The members `ensemble` auto gives: for denoising and deblurring the device kind's
    DEVICE_ENSEMBLES number, halved until `fits(K)` (the batch fits in memory); 1 for the other
    tasks and where members cannot apply (a warm start, a tiled frame)."""
    if not task_record(task).ensembles or warm_start or tiled:
        return 1
    k = DEVICE_ENSEMBLES.get(device, 1)
    while k > 1 and not fits(k):
        k //= 2
    return k


def memory_needed(nets: int, size: tuple[int, int], preset: str) -> float:
    """Bytes a batch of `nets` generators on images of `size` needs (MEMORY_MB_PER_MPX)."""
    mpx = size[0] * size[1] / 1e6
    return nets * mpx * MEMORY_MB_PER_MPX.get(preset, max(MEMORY_MB_PER_MPX.values())) * 2 ** 20


def resolve_ensemble(ensemble: int | None, device: str, size: tuple[int, int], preset: str,
                     available: int | None, *, task: str = "denoise", images: int = 1,
                     warm_start: bool = False, tiled: bool = False) -> int:
    """The members per image that run: `ensemble` as given, refused for a tiled frame or a batch
    (`images` × K nets on images of `size`) over the device's `available` bytes; or, for None
    (auto), the default that applies (`default_ensemble`)."""
    if ensemble is None:
        return default_ensemble(device, task=task, warm_start=warm_start, tiled=tiled,
                                fits=lambda k: available is None
                                or memory_needed(images * k, size, preset) <= available)
    if tiled:
        refuse_tiling(ensemble)
    check_memory(ensemble, images * ensemble, size, preset, available)
    return ensemble


def check_memory(ensemble: int, nets: int, size: tuple[int, int], preset: str,
                 available: int | None) -> None:
    """Refuse an ensemble whose batch of `nets` generators on images of `size` needs more memory
    than the device's `available` bytes (None: not checked)."""
    if ensemble == 1 or available is None:
        return
    need = memory_needed(nets, size, preset)
    if need > available:
        raise FieldError(f"`ensemble` {ensemble}",
                         f"{nets} nets on {size[0]}×{size[1]} images need about {need / 2 ** 30:.1f} "
                         f"GiB, over the device's {available / 2 ** 30:.1f} GiB; lower `ensemble` "
                         "or restore fewer images at once")
