"""The exception types that the CLI turns into one-line errors, and one-line warnings."""

from __future__ import annotations

import sys
from pathlib import Path


class DipbatchError(Exception):
    """A problem with the user's data or options, tied to one file or setting."""

    def __init__(self, where: str | Path, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = str(where)
        self.problem = problem


def warn(where: str | Path, problem: str) -> None:
    """One `warning:` line on stderr: something went wrong, but the work goes on."""
    print(f"warning: {where}: {problem}", file=sys.stderr)


def short(exc: BaseException) -> str:
    """The first line of an exception's message, cut to 120 characters."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= 120 else text[:117] + "..."
