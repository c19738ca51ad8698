"""Stop a fit cleanly on SIGINT or SIGTERM (a SLURM time limit sends SIGTERM).

While `handled()` is in force, a signal during a fit is only noted: the fit loop finishes the step
it is in, saves its checkpoint and raises `Interrupted`, so a rerun resumes where it stopped. A
signal outside a fit, or a second one, raises `Interrupted` at once, except inside the import
machinery (a weakref callback of an import lock, where Python would print the exception as
"Exception ignored" and drop it): there it is noted too, and acted on at the next step of a fit, the
next image (`raise_pending`) or the end of `handled()`, whichever comes first.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A fit stopped by a signal; `images` and `iteration` say where, once known."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.iteration: int | None = None  # the fit's iteration when its checkpoint was saved
        self.images: list[Path] = []
        self.in_workers = False  # the images were fitting in worker processes, each saving its own

    @property
    def exit_code(self) -> int:
        """The shell's code for a death by this signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


class _State:
    pending: int | None = None  # a signal noted during a fit, not yet acted on
    in_fit = False


def pending() -> int | None:
    """The signal received during the running fit, if any."""
    return _State.pending


@contextlib.contextmanager
def in_fit() -> Iterator[None]:
    """Mark a fit loop: a signal inside waits for the loop to save its state."""
    outer = _State.in_fit
    _State.in_fit = True
    try:
        yield
    finally:
        _State.in_fit = outer


def _in_import_machinery(frame: FrameType | None) -> bool:
    return frame is not None and frame.f_code.co_filename.startswith("<frozen importlib")


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if (_State.in_fit or _in_import_machinery(frame)) and _State.pending is None:
        _State.pending = signum
        return
    _State.pending = None
    raise Interrupted(signum)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Catch SIGINT and SIGTERM as described above (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _on_signal) for s in SIGNALS}
    try:
        yield
        raise_pending()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _State.pending = None


def raise_pending() -> None:
    """Outside a fit, raise `Interrupted` for a signal that was noted and not yet acted on."""
    if _State.pending is not None and not _State.in_fit:
        raise stop_now()


def stop_now() -> Interrupted:
    """The exception a fit raises once it has saved its state for the pending signal."""
    signum = _State.pending
    assert signum is not None, "stop_now() without a pending signal"
    _State.pending = None
    return Interrupted(signum)
