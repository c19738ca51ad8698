"""Record whole fit trajectories once, for the stopping benchmark to replay rules on.

A case is a scene, a noise, a crop size, a preset and a seed. Its record holds, per iteration, the
PSNR of the returned (EMA) estimate against the ground truth, the training loss, the data-fit of the
EMA estimate, the windowed variance of the output, and (Gaussian cases, fitted with a twin on
y + εb) the Monte-Carlo divergence that SURE needs; plus the noise floor the fit would estimate.
Records are cached in .npz files, keyed by the case and everything in the code that shapes them.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from photos import PHOTOS, photo_crop, star_crop

from dipbatch.fit.loop import Fitter, StatelessObserver
from dipbatch.fit.presets import get_preset
from dipbatch.fit.problem import Problem
from dipbatch.fit.signals import WINDOW, noise_floor
from dipbatch.fit.stopping import SURE_EPSILON, StopOptions, WindowedVariance, make_stop_rule
from dipbatch.physics import losses
from dipbatch.physics.metrics import noise_sigma, psnr
from dipbatch.physics.synthetic import add_gaussian_noise, add_poisson_noise

RECORD_VERSION = 1  # bump when what a record holds, or how it is computed, changes
SCENES = (*PHOTOS, "stars")
NOISES = ("gauss15", "gauss25", "gauss50", "poisson30")
SIGNALS = ("psnr", "loss", "fit", "variance", "divergence")


@dataclass(frozen=True)
class Case:
    scene: str
    noise: str
    size: int = 128
    preset: str = "fast"
    cap: int = 3000
    seed: int = 0

    @property
    def gaussian(self) -> bool:
        return self.noise.startswith("gauss")

    def key(self, device: str, twins: bool = True) -> str:
        """What a record depends on: the case, the recipe, the code version and the device kind;
        `-nosure` marks a record fitted without SURE's twin (its divergence is all NaN)."""
        recipe = get_preset("denoise", self.preset, iterations=self.cap).to_dict()
        payload = json.dumps([asdict(self), recipe, RECORD_VERSION, WINDOW, SURE_EPSILON,
                              torch.device(device).type], sort_keys=True)
        return f"{self.scene}-{self.noise}-{self.size}-{self.preset}-s{self.seed}-" \
               f"{hashlib.sha256(payload.encode()).hexdigest()[:10]}" + ("" if twins else "-nosure")


def clean_image(scene: str, size: int) -> np.ndarray:
    return star_crop(size) if scene == "stars" else photo_crop(scene, size)


def noisy_image(case: Case, clean: np.ndarray) -> np.ndarray:
    """The observation on the [0,1] scale: clipped Gaussian noise, or photon counts / peak."""
    noise_seed = SCENES.index(case.scene) if case.scene in SCENES else 0
    if case.gaussian:
        return add_gaussian_noise(clean, int(case.noise[5:]) / 255, seed=noise_seed)
    peak = float(case.noise[7:])
    return add_poisson_noise(clean * peak, seed=noise_seed) / peak


def problem_for(case: Case, noisy: np.ndarray) -> Problem:
    """The fit's problem: MSE for Gaussian noise, the Poisson deviance (gain = peak) for photons."""
    y = torch.from_numpy(noisy)
    if case.gaussian:
        return Problem(y)
    gain = float(case.noise[7:])
    return Problem(y, datafit=partial(losses.poisson, photometry=losses.Photometry(gain=gain)))


class Recorder(StatelessObserver):
    """Watches a batch of cases (then their SURE twins) on the device, with no host sync."""

    def __init__(self, cases: list[Case], clean: torch.Tensor, noisy: torch.Tensor,
                 probes: torch.Tensor, cap: int, device: torch.device) -> None:
        self.k = len(cases)
        self.twins = [i for i, c in enumerate(cases) if c.gaussian] if probes.numel() else []
        self.clean, self.noisy, self.probes = clean.to(device), noisy.to(device), probes.to(device)
        self.gains = torch.tensor([1.0 if c.gaussian else float(c.noise[7:]) for c in cases],
                                  device=device)[:, None]
        self.gaussian = torch.tensor([c.gaussian for c in cases], device=device)
        self.variance = WindowedVariance(self.k, cap, WINDOW, cap, cap, tuple(clean.shape[1:]), device)
        self.curves = {name: torch.full((cap, self.k), float("nan"), device=device)
                       for name in ("mse", "fit", "divergence")}

    def observe(self, iteration: int, output: torch.Tensor, smoothed: torch.Tensor) -> None:
        i, k = iteration - 1, self.k
        x = smoothed[:k]
        flat = (x - self.clean).reshape(k, -1)
        self.curves["mse"][i] = flat.pow(2).mean(1)
        mse_y = (x - self.noisy).pow(2).reshape(k, -1).mean(1)
        rate, counts = (x.reshape(k, -1) * self.gains), (self.noisy.reshape(k, -1) * self.gains)
        deviance = losses.poisson_deviance(rate, counts).mean(1)
        self.curves["fit"][i] = torch.where(self.gaussian, mse_y, deviance)
        self.variance.observe(iteration, output[:k], x)
        if self.twins:
            idx = torch.tensor(self.twins, device=x.device)
            twin = smoothed[k:]
            n = x[0].numel()
            div = (self.probes * (twin - x[idx])).reshape(len(self.twins), -1).sum(1) / SURE_EPSILON / n
            self.curves["divergence"][i, idx] = div


def record_batch(cases: list[Case], device: str = "cpu",
                 twins: bool = True) -> dict[str, dict[str, np.ndarray]]:
    """Fit cases of one size, preset, cap and channel count together; one record per case.
    Without `twins`, Gaussian cases get no SURE twin: half the cost, no divergence."""
    first = cases[0]
    assert all((c.size, c.preset, c.cap, c.seed) == (first.size, first.preset, first.cap, first.seed)
               for c in cases)
    dev = torch.device(device)
    cleans = [clean_image(c.scene, c.size) for c in cases]
    noisies = [noisy_image(c, x) for c, x in zip(cases, cleans, strict=True)]
    problems = [problem_for(c, y) for c, y in zip(cases, noisies, strict=True)]
    gaussian = [p for c, p in zip(cases, problems, strict=True) if c.gaussian]
    twin_problems, probe_t = [], torch.zeros(0)
    if gaussian and twins:  # SURE's twins y + εb, as the fit's own rule makes them (σ not needed)
        sure = make_stop_rule(StopOptions(rule="sure"), gaussian, first.cap, torch.device("cpu"),
                              seed=first.seed, sigmas=[1.0] * len(gaussian))
        twin_problems = [Problem(twin) for twin in sure.twins]
        probe_t = sure.stopper.probes
    recorder = Recorder(cases, torch.from_numpy(np.stack(cleans)), torch.from_numpy(np.stack(noisies)),
                        probe_t, first.cap, dev)
    preset = get_preset("denoise", first.preset, iterations=first.cap)
    members = problems + twin_problems
    started = time.perf_counter()
    fitter = Fitter(members, preset, [first.seed] * len(members), dev, iterations=first.cap,
                    observers=[recorder])
    fitter.run()
    seconds = time.perf_counter() - started
    loss = fitter.loss_log.cpu().numpy()
    curves = {name: c.cpu().numpy() for name, c in recorder.curves.items()}
    variance = recorder.variance.curve.cpu().numpy()
    records = {}
    for k, case in enumerate(cases):
        clean, noisy = cleans[k], noisies[k]
        rec = {
            "psnr": (10 * np.log10(1.0 / np.maximum(curves["mse"][:, k], 1e-20))).astype(np.float32),
            "loss": loss[:, k].astype(np.float32),
            "fit": curves["fit"][:, k].astype(np.float32),
            "variance": variance[:, k].astype(np.float32),
            "divergence": curves["divergence"][:, k].astype(np.float32),
            "noisy_psnr": np.float32(psnr(clean, np.clip(noisy, 0, 1))),
            "seconds": np.float32(seconds),
            "members": np.int32(len(members)),
        }
        records[case.key(device, twins)] = rec
    return records


def case_floor(case: Case) -> tuple[float, float]:
    """(σ̂, noise floor) as the fit estimates them from the observation (needs PyWavelets)."""
    noisy = noisy_image(case, clean_image(case.scene, case.size))
    sigma_hat = noise_sigma(np.clip(noisy, 0, 1)) or 0.0
    if case.gaussian:
        return sigma_hat, noise_floor(noisy, "gaussian", sigma=sigma_hat)
    return sigma_hat, noise_floor(noisy, "poisson", gain=float(case.noise[7:]))


# ------------------------------------------------------------------------------------------ cache


def load_cache(paths: list[Path]) -> dict[str, dict[str, np.ndarray]]:
    records: dict[str, dict[str, np.ndarray]] = {}
    for path in paths:
        if not path.exists():
            continue
        with np.load(path) as data:
            for name in data.files:
                key, field = name.split("/", 1)
                records.setdefault(key, {})[field] = data[name]
    return records


def save_cache(path: Path, records: dict[str, dict[str, np.ndarray]]) -> None:
    """Write all records to `path` atomically."""
    arrays = {f"{key}/{field}": value for key, rec in records.items() for field, value in rec.items()}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def record_cases(cases: list[Case], cache: Path, device: str = "cpu",
                 extra: list[Path] | None = None, budget_s: float | None = None,
                 twins: bool = True) -> dict:
    """Record every case not yet cached (batched by size, preset and channels) into `cache`;
    return the records of `cases`, from `cache` and the read-only `extra` caches."""
    own = load_cache([cache])
    records = {**load_cache(extra or []), **own}
    groups: dict[tuple, list[Case]] = {}
    for c in cases:
        if c.key(device, twins) not in records:
            channels = clean_image(c.scene, 8).shape[0]
            groups.setdefault((c.size, c.preset, c.cap, c.seed, channels), []).append(c)
    started = time.perf_counter()
    for group in groups.values():
        if budget_s is not None and time.perf_counter() - started > budget_s:
            print(f"budget spent: {len(group)} cases left unrecorded", flush=True)
            continue
        t0 = time.perf_counter()
        new = record_batch(group, device, twins)
        own.update(new)
        records.update(new)
        save_cache(cache, own)
        print(f"recorded {len(group)} cases ({group[0].size} px, {group[0].preset}) in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    keys = {c: c.key(device, twins) for c in cases}
    return {key: records[key] for key in keys.values() if key in records}
