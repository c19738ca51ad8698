"""The machine a benchmark ran on, in one line for RESULTS.md and as a record for its JSON: every
benchmark says it the same way."""

from __future__ import annotations

import datetime
import os
import platform

import torch


def machine_record(device: torch.device | str | None = None) -> dict[str, object]:
    """Date, CPU, cores, Python, torch, and the GPU with its driver when `device` is CUDA."""
    device = torch.device(device or "cpu")
    record: dict[str, object] = {
        "date": datetime.date.today().isoformat(), "cpu": platform.processor() or platform.machine(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(), "torch": torch.__version__, "device": str(device)}
    if device.type == "cuda":
        record["gpu"] = torch.cuda.get_device_name(device)
        record["cuda"] = torch.version.cuda
    return record


def machine_line(device: torch.device | str | None = None) -> str:
    """The record as one line: `2026-12-05; x86_64, 2 cores; Python 3.11.7, torch 2.13.0+cpu; CPU`."""
    r = machine_record(device)
    where = f"{r['gpu']} (CUDA {r['cuda']})" if "gpu" in r else "CPU"
    return f"{r['date']}; {r['cpu']}, {r['cores']} cores; Python {r['python']}, torch {r['torch']}; {where}"
