"""The spectral trajectory: which frequencies the fit has reproduced, and when (Shi et al., IJCV 2022).

Every `every` iterations, the output's power in radial frequency bands is divided by the
observation's power in the same bands. Early stopping acts as a low-pass filter: low bands reach 1
first, and high bands rise once the net starts to fit the noise.
"""

from __future__ import annotations

from typing import Any

import torch

BANDS = 8


def band_index(height: int, width: int, bands: int = BANDS) -> torch.Tensor:
    """Each rfft2 bin's band: radial frequency in cycles/pixel, bands of equal width up to 0.5."""
    fy = torch.fft.fftfreq(height).abs()[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    radius = torch.sqrt(fy ** 2 + fx ** 2)
    return torch.clamp((radius / 0.5 * bands).long(), max=bands - 1)


def band_power(images: torch.Tensor, index: torch.Tensor, bands: int = BANDS) -> torch.Tensor:
    """Per-band power of K×C×H×W images (channel mean, DC removed): K×bands."""
    gray = images.float().mean(1)
    gray = gray - gray.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.rfft2(gray).abs() ** 2
    flat = power.reshape(power.shape[0], -1)
    out = torch.zeros(power.shape[0], bands, device=images.device)
    return out.index_add_(1, index.reshape(-1).to(images.device), flat)


def cutoff(energy: list[float], edges: list[float], level: float = 0.5) -> float:
    """The effective cutoff: the lower edge of the first band reproduced at less than `level`."""
    for value, edge in zip(energy, edges, strict=False):
        if value < level:
            return edge
    return edges[-1]


class SpectralRecorder:
    """Records E_b(t) = P_b(estimate_t) / P_b(observation) on the device, every `every` iterations."""

    def __init__(self, observations: torch.Tensor, cap: int, every: int = 25) -> None:
        self.every = every
        h, w = observations.shape[-2:]
        self.index = band_index(h, w).to(observations.device)
        self.reference = band_power(observations, self.index).clamp_min(1e-12)
        samples = cap // every + 1
        self.energy = torch.zeros(samples, observations.shape[0], BANDS, device=observations.device)
        self.count = 0

    def observe(self, iteration: int, output: torch.Tensor, smoothed: torch.Tensor) -> None:
        if iteration % self.every == 0 and self.count < self.energy.shape[0]:
            self.energy[self.count] = band_power(smoothed, self.index) / self.reference
            self.count += 1

    def record(self, k: int, stop_iteration: int) -> dict[str, Any]:
        edges = [b * 0.5 / BANDS for b in range(BANDS)] + [0.5]
        energy = self.energy[: self.count, k].cpu().tolist()
        iterations = [(i + 1) * self.every for i in range(self.count)]
        at_stop = [e for it, e in zip(iterations, energy, strict=True) if it <= stop_iteration]
        return {
            "spectral": {"band_edges": edges, "iterations": iterations, "energy": energy},
            "cutoff_frequency": cutoff(at_stop[-1], edges) if at_stop else None,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"energy": self.energy, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.energy.copy_(state["energy"])
        self.count = state["count"]
