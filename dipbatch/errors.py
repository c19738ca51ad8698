"""The exception types that the faces (CLI, workflow) turn into one-line errors, and one-line warnings."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

_FIELD = re.compile(r"`([a-z_]+)`")


class DipbatchError(Exception):
    """A problem with the user's data or options, tied to one file or setting."""

    def __init__(self, where: str | Path, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = str(where)
        self.problem = problem

    def __reduce__(self) -> tuple:
        """Pickled by its parts, so that a worker process can send it back (pool)."""
        return type(self), (self.where, self.problem)


class FieldError(DipbatchError):
    """A bad option value. The message names options as `field` (in backquotes); each face spells
    them its own way: the library as the field (tile_overlap), the CLI as the flag (--tile-overlap).
    `in_file`: the value is a file whose content is wrong (a data error, not a usage error)."""

    def __init__(self, where: str | Path, problem: str, in_file: bool = False) -> None:
        self.template = (str(where), problem)
        self.in_file = in_file
        super().__init__(*self.spelled(lambda name: name))

    def __reduce__(self) -> tuple:
        return type(self), (*self.template, self.in_file)

    def spelled(self, spell: Callable[[str], str]) -> tuple[str, str]:
        """(where, problem) with every `field` written as `spell(field)`."""
        where, problem = (spell_fields(text, spell) for text in self.template)
        return where, problem


def spell_fields(text: str, spell: Callable[[str], str]) -> str:
    """`text` with every `field` (in backquotes) written as `spell(field)`: how a face names options
    in the library's messages."""
    return _FIELD.sub(lambda m: spell(m.group(1)), text)


def warn(where: str | Path, problem: str) -> None:
    """One `warning:` line on stderr: something went wrong, but the work goes on."""
    print(f"warning: {where}: {problem}", file=sys.stderr)


def short(exc: BaseException) -> str:
    """The first line of an exception's message, cut to 120 characters."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= 120 else text[:117] + "..."
