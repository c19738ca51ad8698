"""What a task says about itself: one record per task, which every other layer reads instead of
testing the task's name. A new task is one module holding its record (here in `dipbatch.tasks`),
its operator (`dipbatch.physics.operators`), its presets (`dipbatch.fit.presets`), a CLI option if
it takes one, and the schema's task list.

The records import no torch: the workflow reads them while Snakemake parses the Snakefile, once per
run and once per job it spawns. An operator is built, with torch, only when a fit asks for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dipbatch.fit.signals import DISCREPANCY_RATIO, Threshold
from dipbatch.io.images import Image
from dipbatch.tasks.options import TaskOptions

if TYPE_CHECKING:
    from dipbatch.fit.problem import Problem
    from dipbatch.physics.operators import Operator

Finish = Callable[[Image, "Problem", np.ndarray, TaskOptions], Image]


def identity(options: TaskOptions) -> Operator:
    """The identity operator (denoising and its kin)."""
    from dipbatch.physics.operators import Identity  # torch, when a fit asks (see above)

    return Identity()


def keep_what_was_not_there(image: Image, problem: Problem, estimate: np.ndarray,
                            options: TaskOptions) -> Image:
    """The usual output: the estimate, with non-finite input pixels kept as stored."""
    data = image.data
    return Image(np.where(np.isfinite(data), estimate, data).astype(np.float32), image.source)


@dataclass(frozen=True)
class Task:
    """A task's facts: its operator, what it needs beside the image, and how the faces treat it."""

    name: str
    operator: Callable[[TaskOptions], Operator] = identity
    side_input: str | None = None  # a file per image besides it: "mask" (inpaint), "guide" (flash)
    options: tuple[str, ...] = ()  # the TaskOptions fields only this task uses (factor, mask, guide)
    packable: bool = True  # images of a dataset may share a job (no side file per image)
    noise_floor: bool = False  # its data-fit has a known floor: the auto stop's discrepancy signal
    discrepancy: Threshold = DISCREPANCY_RATIO  # the signal fires at this × the floor (tuned per task)
    #: Above 1, the estimate may reach this many times the observation's brightest value (a
    #: deblurred star outshines its blurred image; `tasks.problems.headroom_scale`); 1: the [0,1] scale.
    headroom: float = 1.0
    ensembles: bool = False  # seed ensembles by default (their gains are measured for it)
    fuses: bool = False  # its estimate is fused with a classical denoiser's (fit/fusion.py)
    declips: bool = False  # its estimate is biased where the noise was clipped (fit/declip.py)
    finish: Finish = keep_what_was_not_there  # the estimate into the output image
    pointwise: bool = True  # each observed pixel sees its own estimate pixel: a stretch and star
    #                         protection (per-pixel conditioning, dipbatch.astro) keep their meaning
    facts: Callable[[TaskOptions], dict[str, Any]] = lambda options: {}  # for the sidecar
    #: Refuse an image its operator cannot apply to (a PSF larger than the image), a FieldError; it
    #: receives the task's own operator (so `Any`: a Blur for deblur).
    check_image: Callable[[Any, Image], None] = lambda operator, image: None
