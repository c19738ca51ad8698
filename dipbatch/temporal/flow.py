"""Optical flow without learned weights: OpenCV's DIS flow, Lai et al.'s occlusion check, warping.

A flow ``f`` computed for the pair (target, source) lives on the target's pixel grid and says where
each target pixel is found in the source: ``target(x) ≈ source(x + f(x))``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

# Lai et al. (ECCV 2018), fast_blind_video_consistency/utils.py::detect_occlusion.
FB_RELATIVE = 0.01
FB_ABSOLUTE = 0.5
BOUNDARY_RELATIVE = 0.01
BOUNDARY_ABSOLUTE = 0.002


@dataclass(frozen=True)
class PairFlow:
    """The flow from a target frame to a source frame, and where it can be trusted."""

    flow: np.ndarray  # H×W×2 float32 (dx, dy), on the target's grid
    valid: np.ndarray  # H×W bool: not occluded, not a motion boundary, lands inside the source


def gray_u8(frame: np.ndarray) -> np.ndarray:
    """A C×H×W float frame in [0,1] as the 8-bit gray image that DIS expects (NaN becomes 0)."""
    data = np.nan_to_num(np.asarray(frame, np.float32))
    gray = data.mean(axis=0) if data.shape[0] != 3 else np.tensordot([0.299, 0.587, 0.114], data, 1)
    return np.round(np.clip(gray, 0.0, 1.0) * 255.0).astype(np.uint8)


def dis_flow(target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """DIS optical flow (medium preset) between two 8-bit gray images, on the target's grid."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]  # OpenCV's stubs miss it
    return dis.calc(target, source, None)


def _sample_grid(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` (C×H×W or H×W×2) at x + flow(x): the source brought onto the target's grid."""
    map_x, map_y = _sample_grid(flow)
    if image.ndim == 3 and image.shape[-1] == 2:  # a flow field, channels last
        return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    planes = [cv2.remap(np.ascontiguousarray(p, np.float32), map_x, map_y, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE) for p in image]
    return np.stack(planes)


def _length_sq(v: np.ndarray) -> np.ndarray:
    return v[..., 0] ** 2 + v[..., 1] ** 2


def valid_mask(to_source: np.ndarray, to_target: np.ndarray) -> np.ndarray:
    """Pixels of the target whose flow passes the forward-backward check and is no motion boundary.

    ``to_source`` is the target→source flow (on the target's grid), ``to_target`` the source→target
    flow (on the source's grid). Thresholds are Lai et al.'s; pixels that land outside the source
    are invalid too.
    """
    back = warp(to_target, to_source)
    mismatch = _length_sq(to_source + back)
    occluded = mismatch > FB_RELATIVE * (_length_sq(to_source) + _length_sq(back)) + FB_ABSOLUTE
    du_y, du_x = np.gradient(to_source[..., 0])
    dv_y, dv_x = np.gradient(to_source[..., 1])
    gradient = du_x ** 2 + du_y ** 2 + dv_x ** 2 + dv_y ** 2
    boundary = gradient > BOUNDARY_RELATIVE * _length_sq(to_source) + BOUNDARY_ABSOLUTE
    map_x, map_y = _sample_grid(to_source)
    h, w = to_source.shape[:2]
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return ~occluded & ~boundary & inside


def pair_flows(frames: Sequence[np.ndarray],
               pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], PairFlow]:
    """Flow and validity for each (target, source) pair of frame indices (frames C×H×W in [0,1]).

    Each frame is turned to 8-bit gray once, and each ordered flow is computed once.
    """
    grays: dict[int, np.ndarray] = {}
    flows: dict[tuple[int, int], np.ndarray] = {}

    def flow(a: int, b: int) -> np.ndarray:
        if (a, b) not in flows:
            for i in (a, b):
                if i not in grays:
                    grays[i] = gray_u8(frames[i])
            flows[a, b] = dis_flow(grays[a], grays[b])
        return flows[a, b]

    return {(t, s): PairFlow(flow(t, s), valid_mask(flow(t, s), flow(s, t))) for t, s in pairs}
