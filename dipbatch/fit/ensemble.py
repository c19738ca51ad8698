"""Seed ensembles: K generators with different seeds fitted on the same image, and averaged.

The members are ordinary members of one batched fit, each with its own seed (seed, seed+1, …) and
its own stop. The image's result is the mean of their returned estimates; the spread between
them (the per-pixel standard deviation across members, averaged over the image) is recorded as
the image's uncertainty figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from dipbatch.errors import FieldError
from dipbatch.io.sidecar import EnsembleRecord

if TYPE_CHECKING:  # the workflow's checks import check_ensemble: no torch at the Snakefile's parse
    from dipbatch.fit.loop import FitResult


def member_seeds(seed: int, ensemble: int) -> list[int]:
    """The members' seeds: member 0 has `seed` (the single-seed fit's), member m has seed + m."""
    return [seed + m for m in range(ensemble)]


def check_ensemble(ensemble: int | None, *, warm_start: bool = False) -> None:
    """Refuse an ensemble size below 1, and an ensemble with a warm start (one net to start
    every member from, or to save, defeats the different seeds). None (auto) is always fine."""
    if ensemble is None:
        return
    where = f"`ensemble` {ensemble}"
    if ensemble < 1:
        raise FieldError(where, "must be at least 1 (1: one seed, no ensemble)")
    if ensemble > 1 and warm_start:
        raise FieldError(where, "does not combine with `init_weights`/`save_weights`: the members "
                                "would all start from one net; use `ensemble` 1 for warm starts")


def combine(results: list[FitResult], seeds: list[int],
            to_input: Callable[[np.ndarray], np.ndarray] = np.asarray, span: float = 1.0) -> FitResult:
    """One image's result from its members': the mean estimate; the curves and the stop are
    member 0's (the single-seed fit's), and `record["ensemble"]` holds every member's seed and
    stop and their spread, on the input's [0,1] scale (`to_input` maps an estimate there) and
    in stored units (`span` is the width of the stored value range). One member: as it is."""
    if len(results) == 1:
        return results[0]
    members = np.stack([r.estimate for r in results])
    spread = float(np.std(np.stack([to_input(m) for m in members]), axis=0, ddof=1).mean())
    block: EnsembleRecord = {
        "members": len(results),
        "seeds": list(seeds),
        "stop_iterations": [r.stop_iteration for r in results],
        "stop_reasons": [r.stop_reason for r in results],
        "spread": spread,
        "spread_stored": spread * span,
    }
    return replace(results[0], estimate=members.mean(0, dtype=np.float64).astype(np.float32),
                   restores=sum(r.restores for r in results),
                   record={**results[0].record, "ensemble": block})
