"""denoise: the observation is the image itself (identity operator), noise of a known model."""

from __future__ import annotations

from dipbatch.tasks.task import Task

TASK = Task("denoise", noise_floor=True, ensembles=True, fuses=True, declips=True)
