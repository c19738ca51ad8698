"""Tasks: one record per task (`Task`), which says what the task needs and how every layer treats it.

denoise   the observation is the image (identity operator)
sr        the image is the estimate seen through the Lanczos-2 downsampler (×2, ×4, ×8)
inpaint   only the mask's known pixels (white, or opaque alpha) count; the output fills the holes
deblock   JPEG artefact removal: the identity, with the paper's snail recipe
flash     flash/no-flash: the no-flash image is fitted by a net whose input is the flash image
deblur    the image is the estimate blurred by a known PSF ("valid" convolution)

The records (this package's face) import no torch; `dipbatch.tasks.problems` turns an image and its
options into the fit's Problem, and the estimate back.
"""

from __future__ import annotations

from dipbatch.errors import FieldError
from dipbatch.tasks import deblock, deblur, denoise, flash, inpaint, sr
from dipbatch.tasks.options import DEFAULT_FACTOR, NOISES, TaskOptions
from dipbatch.tasks.task import Task

__all__ = ["DEFAULT_FACTOR", "NOISES", "TASKS", "TASK_TABLE", "Task", "TaskOptions", "task_record"]

#: Every task's record, by name, in the order the CLI and the schema list them.
TASK_TABLE: dict[str, Task] = {t.name: t for t in (denoise.TASK, sr.TASK, inpaint.TASK, deblock.TASK,
                                                   flash.TASK, deblur.TASK)}
TASKS: tuple[str, ...] = tuple(TASK_TABLE)


def task_record(name: str) -> Task:
    """The record of the task `name`; a FieldError for a task there is none of."""
    if name not in TASK_TABLE:
        raise FieldError(f"`task` {name}", f"unknown task; choose one of {', '.join(TASKS)}")
    return TASK_TABLE[name]
