"""Tasks: turn a read image (and the task's options) into the fit's Problem."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import click
import numpy as np
import torch

from dipbatch.errors import DipbatchError
from dipbatch.fit import Problem
from dipbatch.imageio import Image

TASKS = ("denoise",)


@dataclass(frozen=True)
class TaskOptions:
    """Options that some tasks take; each task reads only its own."""

    task: str = "denoise"

    @classmethod
    def from_cli(cls, values: dict[str, Any]) -> TaskOptions:
        """Take this group's options out of the CLI's keyword arguments."""
        return cls(**{f.name: values.pop(f.name) for f in fields(cls) if f.name in values})


def task_cli_options(command: Callable) -> Callable:
    """The `dipbatch restore` options that choose and configure the task."""
    options = [
        click.option("--task", default="denoise", show_default=True, type=click.Choice(TASKS),
                     help="What corrupted the image."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def build_problem(image: Image, options: TaskOptions) -> Problem:
    """The inverse problem for one image. Non-finite pixels (NaN, inf) are left out of the loss."""
    data = image.data
    finite = np.isfinite(data)
    observation = torch.from_numpy(np.where(finite, data, 0.0).astype(np.float32))
    weight = None if finite.all() else torch.from_numpy(finite.astype(np.float32))
    if options.task == "denoise":
        return Problem(observation=observation, weight=weight)
    raise DipbatchError(f"--task {options.task}", f"unknown task; choose one of {', '.join(TASKS)}")


def finish_estimate(image: Image, estimate: np.ndarray) -> np.ndarray:
    """Put back what the fit must not change: non-finite pixels keep their stored values."""
    data = image.data
    if estimate.shape == data.shape:
        return np.where(np.isfinite(data), estimate, data).astype(np.float32)
    return estimate
