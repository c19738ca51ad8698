"""flash: flash/no-flash, the no-flash image fitted by a net whose input is the flash photo."""

from __future__ import annotations

from dipbatch.tasks.task import Task

TASK = Task("flash", side_input="guide", options=("guide",), packable=False)
