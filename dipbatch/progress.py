"""A rich progress bar on stderr, fed by the fit loop at its check points."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from dipbatch.fit import ProgressHook


@contextlib.contextmanager
def progress_bar(label: str, total: int, enabled: bool = True) -> Iterator[ProgressHook]:
    """Yield a hook(iteration, cap, losses) that advances a bar showing iteration, loss and time left."""
    if not enabled:
        yield lambda *_: None
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total, loss="-")

        def hook(iteration: int, cap: int, losses: list[float]) -> None:
            loss = ", ".join(f"{v:.3g}" for v in losses[:4]) + (" …" if len(losses) > 4 else "")
            bar.update(task, completed=iteration, total=cap, loss=loss)

        yield hook
