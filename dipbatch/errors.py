"""The exception types that the CLI turns into one-line errors."""

from __future__ import annotations

from pathlib import Path


class DipbatchError(Exception):
    """A problem with the user's data or options, tied to one file or setting."""

    def __init__(self, where: str | Path, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = str(where)
        self.problem = problem
