"""The library's errors as the command shows them: one `error:` line naming flags, and exit 1."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from dipbatch.errors import DipbatchError, FieldError

EXIT_DATA_ERROR = 1
EXIT_WARNINGS = 3  # every output written, but some with warnings, under --strict


def flag(field: str) -> str:
    """The command-line flag of an option field: `tile_overlap` is --tile-overlap."""
    return "--" + field.replace("_", "-")


def message(exc: DipbatchError) -> str:
    """The error as the command says it: a field error names flags, not fields."""
    if isinstance(exc, FieldError):
        where, problem = exc.spelled(flag)
        return f"{where}: {problem}"
    return str(exc)


def fail(text: str) -> NoReturn:
    click.echo(f"error: {text}", err=True)
    sys.exit(EXIT_DATA_ERROR)


def guarded(where: str, debug: bool, action: Callable[[], Any]) -> Any:
    """Run `action`; any failure becomes one `error:` line and exit 1, with a traceback only under --debug."""
    try:
        return action()
    except DipbatchError as exc:
        if debug:
            raise
        fail(message(exc))
    except (KeyboardInterrupt, click.exceptions.Exit, click.UsageError):
        raise
    except Exception as exc:
        if debug:
            raise
        fail(f"{where}: {type(exc).__name__}: {exc}")
