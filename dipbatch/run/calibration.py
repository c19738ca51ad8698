"""Seconds per fit step of a task's net at one size on one device: the unit `dipbatch plan` scales
by pixels and iterations into an estimate of a run's time."""

from __future__ import annotations

import time

import numpy as np
import torch

from dipbatch.fit.loop import Fitter
from dipbatch.fit.presets import Preset
from dipbatch.fit.problem import Problem
from dipbatch.run.device import synchronize
from dipbatch.tasks import TaskOptions, task_record
from dipbatch.tasks.problems import make_problem


def synthetic_problem(options: TaskOptions, channels: int, size: tuple[int, int], seed: int = 0) -> Problem:
    """A problem of the task's shape (its operator, mask or guide) on random pixels of `size`."""
    rng = np.random.default_rng(seed)
    data = rng.random((channels, *size), dtype=np.float32)
    side = task_record(options.kind).side_input
    mask = (rng.random((1, *size)) > 0.5).astype(np.float32) if side == "mask" else None
    guide = rng.random((channels, *size), dtype=np.float32) if side == "guide" else None
    return make_problem(data, options, mask=mask, guide=guide)


def time_steps(preset: Preset, problems: list[Problem], device: torch.device, steps: int = 3,
               warmup: int = 1, threads: int | None = None) -> float:
    """Seconds per step (forward, backward, Adam) of fitting `problems` together, after `warmup`
    untimed steps (allocation, cuDNN autotuning); on `threads` CPU threads if given.

    On a GPU, the wall time. On a CPU, the smaller of the wall and the process's CPU time: on a
    shared machine (a login node) other work stretches the wall time of a step, not the CPU time
    that a one-thread step needs on a node of its own; with several threads the wall time is less.
    """
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        fitter = Fitter(problems, preset, list(range(len(problems))), device, iterations=warmup + steps)
        for _ in range(warmup):
            fitter.step()
        synchronize(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(steps):
            fitter.step()
        synchronize(device)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        return (wall if device.type == "cuda" else min(wall, cpu)) / steps
    finally:
        torch.set_num_threads(before)
