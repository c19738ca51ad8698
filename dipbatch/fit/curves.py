"""Per-iteration curves, thinned for the sidecar."""

from __future__ import annotations

import numpy as np


def subsample(values: np.ndarray, points: int) -> list[tuple[int, float]]:
    """About `points` (iteration, value) pairs of a curve whose entry i is iteration i + 1.

    NaN entries (not computed) are left out, and the curve ends at its last computed value.
    """
    valid = ~np.isnan(values)
    done = int(np.flatnonzero(valid)[-1]) + 1 if valid.any() else 0
    stride = max(1, done // points)
    return [(i + 1, float(values[i])) for i in range(0, done, stride) if valid[i]]
