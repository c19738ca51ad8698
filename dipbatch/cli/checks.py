"""The workflow's `options:` checked as `dipbatch restore` checks its command line, before any job.

A dataset's jobs run `dipbatch restore` with the dataset's settings and `options:` as flags
(dipbatch.workflow.restore_args). Here the same flags are parsed by the command itself, its click
types (choices, ranges) and then the library's own checks of the values (`check_restore_options`),
with no image: a value that would fail every job of a dataset stops the run first, named by its
configuration key (datasets.<name>.options.<key>) with the values it allows. The Snakefile and
`dipbatch plan` run this one check.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import click

from dipbatch.errors import DipbatchError, FieldError
from dipbatch.workflow.restore_args import WORKFLOW_OPTIONS, dataset_args, option_key

#: Stand-ins for the files of a job: the check reads no file.
_FILES = ["input.png", "-o", "output.png"]
#: `restore`'s parameters that are no library options (files, processes, tracebacks).
_NOT_OPTIONS = ("inputs", "outputs", "patterns", "threads", "jobs", "input_folders", "outcomes", "strict",
                "debug")


def restore_flags() -> dict[str, click.Parameter]:
    """`dipbatch restore`'s parameters by long option, as options: keys (read_noise for --read-noise)."""
    from dipbatch.cli.restore import restore

    return {opt[2:].replace("-", "_"): param for param in restore.params
            for opt in param.opts if opt.startswith("--")}


def check_dataset_options(name: str, dataset: Mapping[str, Any], device: str) -> None:
    """Refuse a (schema-validated) dataset whose `options:` would fail each of its jobs: a key that is
    no `dipbatch restore` option or that the workflow sets itself, a switch given a value, or a value
    the command refuses. The DipbatchError names the configuration key."""
    flags = restore_flags()
    for key, value in dataset["options"].items():
        option = key.replace("-", "_")
        where = f"datasets.{name}.options.{key}"
        if option in WORKFLOW_OPTIONS:
            raise DipbatchError(where, f"the workflow sets --{key.replace('_', '-')} itself"
                                + (f"; use {option_key(name, option)}" if WORKFLOW_OPTIONS[option] else ""))
        if option not in flags:
            near = difflib.get_close_matches(option, list(flags), n=1)
            raise DipbatchError(where, f"dipbatch restore has no option --{key.replace('_', '-')}"
                                + (f"; did you mean {near[0]}?" if near else ""))
        if getattr(flags[option], "is_flag", False) and not isinstance(value, bool):
            raise DipbatchError(where, f"{value!r}: --{key.replace('_', '-')} is a switch: true or false")
    _check_values(name, dataset_args(dataset, device), "cpu" if device == "auto" else device)


def _check_values(name: str, args: list[str], device_kind: str) -> None:
    """Parse `args` with `dipbatch restore` itself and run the library's checks of the options."""
    from dipbatch.cli.restore import restore, restore_options
    from dipbatch.run.restore import check_restore_options

    def key(field: str) -> str:
        return option_key(name, field)

    try:
        with restore.make_context("restore", [*args, *_FILES]) as ctx:
            params = {k: v for k, v in ctx.params.items() if k not in _NOT_OPTIONS}
    except click.BadParameter as exc:
        flag = next((o for o in (exc.param.opts if exc.param else []) if o.startswith("--")), "--options")
        raise DipbatchError(key(flag[2:].replace("-", "_")), exc.message) from None
    except click.UsageError as exc:
        raise DipbatchError(f"datasets.{name}.options", exc.format_message()) from None
    try:
        check_restore_options(restore_options(params), device_kind)
    except FieldError as exc:
        where, problem = exc.spelled(key)
        raise DipbatchError(where, problem) from None
