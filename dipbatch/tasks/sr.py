"""sr: the image is the estimate seen through the Lanczos-2 downsampler (×2, ×4, ×8); the output is
`factor` times larger, its alpha plane enlarged with it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from dipbatch.fit.problem import Problem
from dipbatch.io.images import Image
from dipbatch.physics.operators import Downsampler
from dipbatch.tasks.options import DEFAULT_FACTOR, TaskOptions
from dipbatch.tasks.task import Task


def enlarge(image: Image, problem: Problem, estimate: np.ndarray, options: TaskOptions) -> Image:
    """The estimate at its size, with the alpha plane enlarged by the same factor."""
    source = image.source
    factor = estimate.shape[-1] // image.data.shape[-1]
    block = None if source.alpha is None else np.ones((factor, factor), source.alpha.dtype)
    alpha = None if source.alpha is None else np.kron(source.alpha, block)
    return Image(estimate.astype(np.float32), replace(source, alpha=alpha, height=estimate.shape[1],
                                                      width=estimate.shape[2]))


TASK = Task("sr", operator=lambda options: Downsampler(options.factor or DEFAULT_FACTOR),
            options=("factor",), finish=enlarge)
