"""What a job asks the cluster for: its preset's memory and minutes, grown with its images'
megapixels and members, and with each retry."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from dipbatch.fit.presets import DEVICE_PRESETS, PRESET_NAMES
from dipbatch.io.images import image_size


def resource_preset(preset: str, device: str) -> str:
    """The preset whose resources a dataset's jobs ask for: `auto` is the device's preset, and
    with device `auto` (a job may land on either) the larger of the two."""
    if preset != "auto":
        return preset
    if device in DEVICE_PRESETS:
        return DEVICE_PRESETS[device]
    return min(DEVICE_PRESETS.values(), key=PRESET_NAMES.index)  # the largest net comes first


@cache
def megapixels(path: str) -> float:
    """The image's pixel count in millions, from its header; 1 when the header is unreadable
    (the job then fails on its own, with the reader's error in its log)."""
    try:
        height, width = image_size(path)
    except Exception:
        return 1.0
    return height * width / 1e6


def scaled(resources: Mapping[str, Any], key: str, images: Iterable[str], attempt: int,
           members: int = 1) -> int:
    """A job's memory or minutes: the preset's base plus its share per megapixel of every image,
    and for minutes of every ensemble member too, doubled with each retry. Members add little host
    memory: a CPU computes one member's graph at a time (4 members: 1.2x one's memory), and a GPU
    keeps them in its own memory, which the fit checks itself (`--ensemble`)."""
    per_pixel = members if key == "runtime" else 1
    pixels = per_pixel * sum(megapixels(str(image)) for image in images)
    return math.ceil((resources[key] + resources[f"{key}_per_mpx"] * pixels) * attempt)
