"""sr: the image is the estimate seen through the Lanczos-2 downsampler (×2, ×4, ×8); the output is
`factor` times larger, its alpha plane enlarged with it."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from dipbatch.io.images import Image
from dipbatch.tasks.options import DEFAULT_FACTOR, TaskOptions
from dipbatch.tasks.task import Task

if TYPE_CHECKING:
    from dipbatch.fit.problem import Problem
    from dipbatch.physics.operators import Downsampler


def enlarge(image: Image, problem: Problem, estimate: np.ndarray, options: TaskOptions) -> Image:
    """The estimate at its size, with the alpha plane enlarged by the same factor."""
    source = image.source
    factor = estimate.shape[-1] // image.data.shape[-1]
    block = None if source.alpha is None else np.ones((factor, factor), source.alpha.dtype)
    alpha = None if source.alpha is None else np.kron(source.alpha, block)
    return Image(estimate.astype(np.float32), replace(source, alpha=alpha, height=estimate.shape[1],
                                                      width=estimate.shape[2]))


def downsampler(options: TaskOptions) -> Downsampler:
    from dipbatch.physics.operators import Downsampler  # torch, when a fit asks (dipbatch.tasks.task)

    return Downsampler(options.factor or DEFAULT_FACTOR)


TASK = Task("sr", operator=downsampler,
            options=("factor",), finish=enlarge)
