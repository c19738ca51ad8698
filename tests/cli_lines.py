"""What `dipbatch restore` prints, as the tests read it back."""

from __future__ import annotations

from pathlib import Path


def closing_line(lines: list[str], written: int, failed: int, folder: Path | str) -> str:
    """The closing line a run of `written` outputs and `failed` failures must end with, given the
    `warning:` lines it printed about its outputs (those with a doubt count apart from the plain ok
    ones; a warning about another file, a checkpoint, does not count)."""
    outputs = {line.split(": ", 2)[1] for line in lines if line.startswith("done: ")}
    warned = len(outputs & {line.split(": ", 2)[1] for line in lines if line.startswith("warning: ")})
    counts = f"{written - warned} ok, " + (f"{warned} with warnings, " if warned else "")
    return f"{counts}{failed} failed; outputs in {folder}"
