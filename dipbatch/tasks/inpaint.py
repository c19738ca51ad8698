"""inpaint: only the mask's known pixels (white, or opaque alpha) count; the output fills the holes and
keeps the known pixels as they were."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from dipbatch.io.images import Image
from dipbatch.tasks.options import TaskOptions
from dipbatch.tasks.task import Task

if TYPE_CHECKING:
    from dipbatch.fit.problem import Problem


def fill_holes(image: Image, problem: Problem, estimate: np.ndarray, options: TaskOptions) -> Image:
    """The known pixels as they were, the holes (and non-finite pixels) from the estimate; holes
    that were transparent become opaque."""
    data, source = image.data, image.source
    known = np.broadcast_to(problem.weight.numpy() > 0, data.shape) if problem.weight is not None \
        else np.ones(data.shape, bool)
    filled = np.where(known, data, estimate).astype(np.float32)
    if options.mask is None and source.alpha is not None:  # the holes were transparent
        opaque = 1.0 if source.alpha.dtype.kind == "f" else int(np.iinfo(source.alpha.dtype).max)
        source = replace(source, alpha=np.full_like(source.alpha, opaque))
    return Image(filled, source)


TASK = Task("inpaint", side_input="mask", options=("mask",), packable=False, finish=fill_holes)
