"""A cheap flow-guided temporal filter: each frame blended with its neighbours warped onto it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dipbatch.temporal.flow import pair_flows, warp


def flow_filter(frames: Sequence[np.ndarray], radius: int = 1, tolerance: float = 0.1) -> list[np.ndarray]:
    """Average each frame with the frames up to `radius` away, warped onto it by DIS flow.

    The flow is computed on the frames themselves (the per-frame results, cleaner than the input).
    A neighbour's pixel counts only where its flow passes the occlusion check and where it differs
    from the frame by at most `tolerance` in every channel, so a wrong flow cannot smear an edge.
    """
    count = len(frames)
    pairs = [(t, s) for t in range(count) for s in range(max(0, t - radius), min(count, t + radius + 1))
             if s != t]
    flows = pair_flows(frames, pairs)
    out = []
    for t, frame in enumerate(frames):
        base = np.nan_to_num(np.asarray(frame, np.float32))
        total = base.copy()
        weight = np.ones(base.shape[1:], np.float32)
        for (target, source), pf in flows.items():
            if target != t:
                continue
            warped = warp(np.nan_to_num(np.asarray(frames[source], np.float32)), pf.flow)
            use = pf.valid & (np.abs(warped - base).max(axis=0) <= tolerance)
            total += warped * use
            weight += use
        out.append(np.where(np.isfinite(frame), total / weight, frame).astype(np.float32))
    return out
