"""`--help` in panels: each option carries the title of its panel, and the panels are listed in
the order the command declares their options, the common ones first."""

from __future__ import annotations

from collections.abc import Callable

import click

OTHER = "Other options"


def panel(title: str, *options: Callable[[Callable], Callable]) -> Callable[[Callable], Callable]:
    """One decorator applying several click options, listed in this order under `title` in --help."""

    def decorate(command: Callable) -> Callable:
        before = len(getattr(command, "__click_params__", []))
        for option in reversed(options):
            command = option(command)
        for param in getattr(command, "__click_params__", [])[before:]:
            param.panel = title  # click's Parameter has no such attribute: the help formatter reads it
        return command

    return decorate


class PanelCommand(click.Command):
    """A command whose options are shown in titled panels instead of one flat list."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        panels: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
            if record is not None:
                panels.setdefault(getattr(param, "panel", OTHER), []).append(record)
        for title, rows in sorted(panels.items(), key=lambda item: item[0] == OTHER):
            with formatter.section(title):
                formatter.write_dl(rows)
