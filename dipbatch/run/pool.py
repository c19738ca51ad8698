"""Several images on a CPU: N worker processes of T torch threads each, never more than the cores.

One process of two threads is slower than two of one thread each (benchmarks/RESULTS.md), and more
threads than cores is a cliff (OpenMP threads spin while they wait: 13x slower). So the cores this
process may use are shared out as jobs × threads, and a request for more is clamped.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from dipbatch.errors import DipbatchError
from dipbatch.fit import interrupt
from dipbatch.fit.interrupt import Interrupted
from dipbatch.run.restore import (
    Outcome,
    Report,
    RestoreOptions,
    check_inputs,
    check_restore_options,
    resolve_device,
    restore_files,
)

Note = Callable[[str], None]


def usable_cores(environ: Mapping[str, str] = os.environ) -> int:
    """The cores this process may run on: its CPU affinity, capped by SLURM's --cpus-per-task."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    slurm = environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        cores = min(cores, int(slurm))
    return max(cores, 1)


@dataclass(frozen=True)
class WorkerPlan:
    jobs: int
    threads: int
    note: str | None = None  # why the request was cut down, for the user


def plan_workers(jobs: int | None, threads: int | None, cores: int, images: int,
                 device: str = "cpu") -> WorkerPlan:
    """How many worker processes of how many torch threads, within `cores`.

    Defaults: on a CPU, one job per image up to the cores, the cores shared out among them; on a
    GPU (grouped batches) or when only --threads is given (a budget, as the workflow passes it),
    one job. Asking for jobs × threads above the cores is clamped: threads first, then jobs.
    """
    if jobs is None:
        jobs = 1 if threads is not None or device != "cpu" else min(images, cores)
    jobs = max(1, min(jobs, images))
    asked = threads
    threads = threads or max(1, cores // jobs)
    if jobs * threads <= cores:
        return WorkerPlan(jobs, threads)
    fitted_jobs = min(jobs, cores)
    fitted_threads = max(1, min(threads, cores // fitted_jobs))
    note = (f"`jobs` {jobs} × `threads` {asked} is more than the {cores} cores this process may use; "
            f"running {fitted_jobs} × {fitted_threads}")
    return WorkerPlan(fitted_jobs, fitted_threads, note)


def restore_with_jobs(pairs: list[tuple[Path, Path]], options: RestoreOptions, jobs: int | None,
                      threads: int | None, note: Note, report: Report) -> list[Outcome]:
    """Restore the pairs in this process, or spread over worker processes, as plan_workers says.

    `note` gets the lines about the plan; `report` each outcome as it is known. A signal raises
    `Interrupted` naming the unfinished images; each fit saved its checkpoint first.
    """
    device = resolve_device(options.device)
    # the options' own refusals are usage errors here, not one failed image per worker
    check_restore_options(options, device.type)
    plan = plan_workers(jobs, threads, usable_cores(), len(pairs), device.type)
    failed: list[Outcome] = []
    if plan.jobs > 1:  # every bad input named before the first fit, and no worker for it
        checked = check_inputs(pairs, options, report)
        failed = [o for o in checked if o.error is not None]
        pairs = [(o.input, o.output) for o in checked if o.error is None]
        plan = plan_workers(jobs, threads, usable_cores(), max(len(pairs), 1), device.type)
    if plan.note:
        note(f"note: {plan.note}")
    if plan.jobs > 1:
        note(f"restoring {len(pairs)} images in {plan.jobs} processes of {plan.threads} threads")
        return failed + _restore_in_workers(pairs, replace(options, show_progress=False), plan, report)
    torch.set_num_threads(plan.threads)
    return failed + (restore_files(pairs, options, report) if pairs else [])


def _restore_in_workers(pairs: list[tuple[Path, Path]], options: RestoreOptions, plan: WorkerPlan,
                        report: Report) -> list[Outcome]:
    """One image per task, each outcome reported as it comes; a signal stops every worker, and each
    saves its fit's checkpoint."""
    context = multiprocessing.get_context("spawn")  # no fork of a process with OpenMP threads
    tasks, results = context.Queue(), context.Queue()
    for index, pair in enumerate(pairs):
        tasks.put((index, pair))
    for _ in range(plan.jobs):
        tasks.put(None)
    workers = [context.Process(target=_work, args=(tasks, results, options, plan.threads), daemon=True)
               for _ in range(plan.jobs)]
    outcomes: list[Outcome | None] = [None] * len(pairs)
    try:
        with _ignoring_sigint():  # a worker takes Ctrl-C once it can clean up after itself
            for worker in workers:
                worker.start()
        for index, outcome in _collect(results, workers, len(pairs)):
            outcomes[index] = outcome
            report(outcome)
    except Interrupted as stop:
        stop.images = [Path(i) for (i, _), got in zip(pairs, outcomes, strict=True) if got is None]
        stop.in_workers = True
        raise
    finally:
        _stop(workers)
    lost = [Outcome(Path(i), Path(o), error=DipbatchError(i, "its worker process stopped unexpectedly"))
            for (i, o), got in zip(pairs, outcomes, strict=True) if got is None]
    for outcome in lost:
        report(outcome)
    return [o for o in outcomes if o is not None] + lost


def _collect(results: multiprocessing.Queue, workers: list, count: int) -> Iterator[tuple[int, Outcome]]:
    """Results as they come, until all are in or every worker is gone."""
    received = 0
    while received < count:
        try:
            item = results.get(timeout=0.2)
        except queue.Empty:
            if any(w.is_alive() for w in workers):
                continue
            try:  # the last results may arrive just after their worker ended
                item = results.get(timeout=1.0)
            except queue.Empty:
                return
        received += 1
        yield item


def _stop(workers: list) -> None:
    """End every worker still running (SIGTERM: it cleans up its temp files) and wait for it."""
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    deadline = time.monotonic() + 30
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            worker.kill()
            worker.join()


@contextlib.contextmanager
def _ignoring_sigint() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by the spawned workers
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _work(tasks: multiprocessing.Queue, results: multiprocessing.Queue, options: RestoreOptions,
          threads: int) -> None:
    """A worker: restore one image at a time until told to stop (None) or interrupted; a signal
    saves the running fit's checkpoint (see dipbatch.fit.interrupt) and ends the worker."""
    torch.set_num_threads(threads)
    try:
        with interrupt.handled():
            while (task := tasks.get()) is not None:
                index, (source, output) = task
                results.put((index, _restore_one(Path(source), Path(output), options)))
    except Interrupted as stop:
        results.cancel_join_thread()
        sys.exit(stop.exit_code)


def _restore_one(source: Path, output: Path, options: RestoreOptions) -> Outcome:
    """One image; whatever goes wrong fails this image only."""
    try:
        return restore_files([(source, output)], options)[0]
    except DipbatchError as exc:
        return Outcome(source, output, error=exc)
    except Exception as exc:
        if options.debug:
            traceback.print_exc()
        return Outcome(source, output, error=DipbatchError(source, f"{type(exc).__name__}: {exc}"))
