"""Where a fit runs: the device names a user may give, and the torch device they mean."""

from __future__ import annotations

import os

import torch

from dipbatch.errors import FieldError

DEVICES = ("auto", "cpu", "cuda")  # the choices of --device and of the config's device:


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when available; `cuda` without a GPU is refused."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise FieldError("`device` cuda", "no CUDA device is available")
    return torch.device(name)


def memory_bytes(device: torch.device) -> int | None:
    """The memory a fit on `device` can use: the GPU's, or the machine's RAM (None: unknown)."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a GPU runs asynchronously); a no-op on the CPU. For timing."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
