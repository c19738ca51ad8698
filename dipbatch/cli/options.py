"""The pattern behind `dipbatch restore`'s option groups: a dataclass filled from click's keywords."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

Group = TypeVar("Group", bound="OptionGroup")


class OptionGroup:
    """Mixin for a dataclass whose fields are named like its click options."""

    @classmethod
    def from_cli(cls: type[Group], values: dict[str, Any]) -> Group:
        """Take this group's options out of the command's keyword arguments."""
        return cls(**{f.name: values.pop(f.name) for f in fields(cls) if f.name in values})  # type: ignore[arg-type]


def click_options(*options: Callable[[Callable], Callable]) -> Callable[[Callable], Callable]:
    """One decorator applying several click options, in the order given in --help."""

    def decorate(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate
