"""Progress on stderr, fed by the fit loop: a rich bar on a terminal; elsewhere (a SLURM job, a
Snakemake log) plain lines that `tail -f` shows, at least every minute and every tenth of the cap."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from dipbatch.fit.loop import ProgressHook

#: Seconds between plain progress lines at most; the environment variable sets it (tests use less).
PLAIN_EVERY_S = 60.0
PLAIN_EVERY_VARIABLE = "DIPBATCH_PROGRESS_SECONDS"


def losses_text(losses: list[float], members: int = 1) -> str:
    """The fit's losses, labelled: `loss 0.0123`, or per member, image, or fit (image and member)."""
    values = ", ".join(f"{v:.3g}" for v in losses[:4]) + (" …" if len(losses) > 4 else "")
    if len(losses) <= 1:
        return f"loss {values}"
    images = max(len(losses) // max(members, 1), 1)
    per = "member" if images == 1 else "image" if members == 1 else "fit (image × member)"
    return f"loss per {per} {values}"


def eta_text(seconds_per_step: float | None, iteration: int, cap: int, expected: int | None) -> str:
    """`ETA 40 s to the expected stop near 1400, at most 2 min 10 s to the cap`, or to the cap alone."""
    if seconds_per_step is None:
        return "ETA ?"
    to_cap = f"{duration(seconds_per_step * (cap - iteration))} to the cap"
    if expected is None or not iteration <= expected < cap:
        return f"ETA {to_cap}"
    return f"ETA {duration(seconds_per_step * (expected - iteration))} to the expected stop near " \
           f"{expected}, at most {to_cap}"


def duration(seconds: float) -> str:
    """A duration as a person reads it: 42 s, 3 min 05 s, 2 h 07 min."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class PlainProgress:
    """A hook writing one line per tenth of the cap, or per `every_s` seconds, whichever comes first:
    `progress: LABEL 300/3000 loss 0.0123 running, ETA 40 s to the expected stop near 700, at most
    4 min 10 s to the cap`."""

    def __init__(self, label: str, stream: TextIO, every_s: float, state: Callable[[], str],
                 start: int = 0, expected: Callable[[], int | None] = lambda: None, members: int = 1) -> None:
        self.label, self.stream, self.every_s, self.state = label, stream, every_s, state
        self.expected, self.members = expected, members
        self.start_iteration = start
        self.started = self.last_time = time.monotonic()
        self.last_tenth: int | None = None

    def __call__(self, iteration: int, cap: int, losses: list[float]) -> None:
        now = time.monotonic()
        if self.last_tenth is None:  # a resumed fit starts in the tenth of its start
            self.last_tenth = 10 * self.start_iteration // max(cap, 1)
        tenth = 10 * iteration // max(cap, 1)
        if tenth <= self.last_tenth and now - self.last_time < self.every_s:
            return
        self.last_tenth, self.last_time = tenth, now
        done = iteration - self.start_iteration
        per_step = (now - self.started) / done if done > 0 else None
        self.stream.write(f"progress: {self.label} {iteration}/{cap} {losses_text(losses, self.members)} "
                          f"{self.state()}, {eta_text(per_step, iteration, cap, self.expected())}\n")
        self.stream.flush()


def plain_every_s() -> float:
    return float(os.environ.get(PLAIN_EVERY_VARIABLE) or PLAIN_EVERY_S)


@contextlib.contextmanager
def progress_bar(label: str, total: int, enabled: bool = True, state: Callable[[], str] | None = None,
                 start: int = 0, expected: Callable[[], int | None] = lambda: None,
                 members: int = 1) -> Iterator[ProgressHook]:
    """Yield a hook(iteration, cap, losses): a bar on a terminal, plain lines elsewhere. `state`
    says how the stop stands (e.g. "running", "stopped at 420"); `start` is a resumed fit's iteration;
    `expected` where the stop is expected (None: unknown), for the ETA; `members` per image, for
    the losses' label."""
    if not enabled:
        yield lambda *_: None
        return
    state = state or (lambda: "running")
    if not sys.stderr.isatty():
        yield PlainProgress(label, sys.stderr, plain_every_s(), state, start, expected, members)
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[loss]}"), TextColumn("{task.fields[state]}"),
               TextColumn("{task.fields[eta]}"))
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total, loss="loss -", state="", eta="", completed=start)
        started = time.monotonic()

        def hook(iteration: int, cap: int, losses: list[float]) -> None:
            done = iteration - start
            per_step = (time.monotonic() - started) / done if done > 0 else None
            bar.update(task, completed=iteration, total=cap, loss=losses_text(losses, members),
                       state=state(), eta=eta_text(per_step, iteration, cap, expected()))

        yield hook
