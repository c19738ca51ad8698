"""deblock: JPEG artefact removal, the identity operator with the paper's snail recipe (its presets)."""

from __future__ import annotations

from dipbatch.tasks.task import Task

TASK = Task("deblock")
