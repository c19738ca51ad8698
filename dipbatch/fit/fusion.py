"""Fusing a denoising fit's estimate with a classical denoiser's estimate of the same observation.

The generator's prior and classical ones (non-local self-similarity, sparsity in local DCTs) err in
different places, so their weighted mean (the pilot) beats either, and the mean of the pilot and an
empirical Wiener filter of the observation with the pilot as its signal estimate beats the pilot
(`benchmarks/classical.py`). `auto` picks the partner by the noise: NL-means, and at strong
Gaussian noise the mean of NL-means and a DCT denoiser. The
classical estimate is made where the noise is Gaussian of a known σ: the observation itself for
Gaussian noise, the generalized Anscombe transform of the photo-electrons for Poisson and
Poisson-Gaussian noise. The blends are taken in the fit's [0,1] units, so fluxes stay linear. The
two estimates' disagreement, in units of σ, is recorded: where it is far above what the benchmark
saw, at least one of them is wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from importlib.util import find_spec
from typing import Any

import numpy as np
import torch

from dipbatch.errors import FieldError
from dipbatch.fit.loop import FitResult
from dipbatch.fit.problem import Problem
from dipbatch.physics import losses
from dipbatch.physics.classical import (
    CLASSICAL,
    WIENER_PATCHES,
    anscombe,
    blend,
    disagreement,
    inverse_anscombe,
    wiener,
)
from dipbatch.physics.metrics import noise_sigma

FUSION_METHODS = ("auto", *CLASSICAL, "off")
#: `auto` fuses with the mean of NL-means and the DCT denoiser where the noise is Gaussian of at
#: least this σ (estimated or given) and the ensemble has no DIP-SURE members: measured at σ 25 and
#: 50, where it beats NL-means alone on both halves (RESULTS.md, "NL-means and a DCT denoiser"), and
#: set at DIP-SURE's bound, since the star field's σ̂ at a true 25/255 reads 18/255; NL-means alone
#: elsewhere (σ 15 beside DIP-SURE members, photon counts: where it was tuned and the pair was not).
DCT_FROM_SIGMA = 16 / 255
#: A disagreement (RMS difference / σ) above this is flagged: the benchmark's largest was 0.44.
DISAGREEMENT_FLAG = 1.0


@dataclass(frozen=True)
class Recipe:
    """How one classical partner is fused, as chosen on the tuning half of `benchmarks/classical.py`
    (RESULTS.md, "dipbatch beside BM3D"): the fit's share of the blend for Gaussian noise by σ on
    the [0,1] scale (interpolated between the levels, the nearest outside them), for an ensemble
    with DIP-SURE members (fit/dipsure.py: at low σ only) and for photon counts, and whether the
    blend is refined by the Wiener filter (BM3D has its own)."""

    gaussian: tuple[tuple[float, float], ...]
    dip_sure: float
    counts: float
    refine: bool


RECIPES = {
    "nl-means": Recipe(((15 / 255, 0.6), (25 / 255, 0.7), (50 / 255, 1.0)), dip_sure=0.8, counts=0.7,
                       refine=True),
    "bm3d": Recipe(((15 / 255, 0.25), (25 / 255, 0.25), (50 / 255, 0.2)), dip_sure=0.35, counts=0.35,
                   refine=False),
    # tuned at σ 25 and 50 (with the estimated σ, as dipbatch runs); `auto` picks it only from
    # DCT_FROM_SIGMA up, and its shares for DIP-SURE ensembles and counts are NL-means'
    "nl-means+dct": Recipe(((25 / 255, 0.6), (50 / 255, 0.6)), dip_sure=0.8, counts=0.7, refine=True),
}


def partner(method: str, noise: str, sigma: float, dip_sure: bool = False) -> str:
    """The classical denoiser that `method` fuses with for a noise model and σ (in its Gaussian
    domain): `method` itself, or for `auto` the one measured best there (DCT_FROM_SIGMA)."""
    if method != "auto":
        return method
    strong = noise == "gaussian" and not dip_sure and sigma >= DCT_FROM_SIGMA
    return "nl-means+dct" if strong else "nl-means"


def fit_share(method: str, noise: str, sigma: float, dip_sure: bool = False) -> float:
    """The fit's default share of the blend with `method` for a noise model and σ (in its Gaussian
    domain), and whether the fit's ensemble had DIP-SURE members."""
    recipe = RECIPES[method]
    if noise != "gaussian":
        return recipe.counts
    if dip_sure:
        return recipe.dip_sure
    levels, shares = zip(*recipe.gaussian, strict=True)
    return round(float(np.interp(sigma, levels, shares)), 3)


@dataclass(frozen=True)
class FusionOptions:
    """Which classical estimate a denoising fit is fused with, and the fit's share of the blend."""

    fusion: str = "auto"  # one of FUSION_METHODS
    fusion_weight: float | None = None  # the fit's share in [0, 1]; None: the method's `fit_share`

    def check(self) -> None:
        if self.fusion not in FUSION_METHODS:
            raise FieldError(f"`fusion` {self.fusion}", f"choose one of {', '.join(FUSION_METHODS)}")
        if self.fusion_weight is not None and not 0.0 <= self.fusion_weight <= 1.0:
            raise FieldError(f"`fusion_weight` {self.fusion_weight}", "must lie in [0, 1] (1: the fit alone)")
        if self.fusion == "bm3d" and find_spec("bm3d") is None:
            raise FieldError("`fusion` bm3d", "needs the optional bm3d package, whose licence allows "
                                              "non-commercial use only: pip install bm3d, or use nl-means")


@dataclass(frozen=True)
class NoiseDomain:
    """Where an observation's noise is Gaussian of σ: the map there from [0,1] values, and back."""

    noise: str
    sigma: float
    forward: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]


def _identity(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float64)


def _counts_domain(noise: str, photometry: losses.Photometry) -> NoiseDomain:
    lo, hi = photometry.value_range
    read = photometry.read_noise if noise == "poisson-gaussian" else 0.0

    def forward(x: np.ndarray) -> np.ndarray:
        return anscombe(photometry.electrons(torch.from_numpy(np.asarray(x, np.float64))).numpy(), read)

    def inverse(z: np.ndarray) -> np.ndarray:
        return (inverse_anscombe(z, read) / photometry.gain + photometry.offset - lo) / (hi - lo)

    return NoiseDomain(noise, 1.0, forward, inverse)


def noise_domain(problem: Problem, sigma: float | None = None) -> NoiseDomain | str:
    """The problem's Gaussian domain, or why it has none (`sigma`: a given Gaussian σ on [0,1])."""
    if problem.weight is not None:
        return "pixels are left out of the fit (a mask, bad pixels or non-finite values)"
    term = problem.datafit
    if term is losses.gaussian:
        sigma = sigma if sigma is not None else noise_sigma(problem.observation.numpy())
        if not sigma:
            return "no noise level could be estimated"
        return NoiseDomain("gaussian", sigma, _identity, _identity)
    if isinstance(term, partial) and term.func in (losses.poisson, losses.poisson_gaussian):
        noise = "poisson" if term.func is losses.poisson else "poisson-gaussian"
        return _counts_domain(noise, term.keywords["photometry"])
    return "its data-fit has no Gaussian domain"


def fuse(result: FitResult, problem: Problem, options: FusionOptions, sigma: float | None = None,
         unsupported: str | None = None) -> FitResult:
    """The result with its estimate fused, and `record["fusion"]` saying with what and how much;
    `unsupported` is the caller's reason not to fuse this image (recorded, the estimate kept)."""
    if options.fusion == "off":
        return result
    domain = unsupported or noise_domain(problem, sigma)
    if isinstance(domain, str):
        return replace(result, record={**result.record, "fusion": {"method": "off", "reason": domain}})
    started = time.perf_counter()
    observed = domain.forward(problem.observation.numpy())
    dip_sure = "dip_sure" in result.record
    method = partner(options.fusion, domain.noise, domain.sigma, dip_sure)
    classical = CLASSICAL[method](observed, domain.sigma)
    weight = options.fusion_weight
    if weight is None:
        weight = fit_share(method, domain.noise, domain.sigma, dip_sure=dip_sure)
    apart = disagreement(domain.forward(result.estimate), classical, domain.sigma)
    fused = blend(result.estimate, domain.inverse(classical), weight)
    block: dict[str, Any] = {"method": method, "weight": weight, "domain": domain.noise,
                             "sigma": domain.sigma, "disagreement": apart,
                             "disagrees": apart > DISAGREEMENT_FLAG}
    if options.fusion == "auto":
        block["chosen"] = "auto"
    if RECIPES[method].refine:  # the blend is the pilot: the mean of it and its Wiener filter
        filtered = domain.inverse(wiener(observed, domain.forward(fused), domain.sigma))
        fused = blend(fused, filtered, 0.5)
        block["refined"] = f"mean with its Wiener filter {list(WIENER_PATCHES)}"
    block["seconds"] = round(time.perf_counter() - started, 3)
    return replace(result, estimate=fused, record={**result.record, "fusion": block})
