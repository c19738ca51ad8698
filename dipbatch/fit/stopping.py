"""Stopping rules: each watches the outputs on the device, decides at check points, keeps its estimate."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from dipbatch.errors import FieldError
from dipbatch.fit import dipsure
from dipbatch.fit.curves import subsample
from dipbatch.fit.signals import (
    CAP,
    DISCREPANCY_RATIO,
    FIXED,
    SIGNAL,
    AutoRule,
    ContrastThreshold,
    Threshold,
    decide,
    expected_crossing,
    extends,
    noise_floor,
    peak_contrast,
)
from dipbatch.physics import losses
from dipbatch.physics.metrics import noise_sigma

if TYPE_CHECKING:
    from dipbatch.fit.problem import Problem

@dataclass(frozen=True)
class RuleFacts:
    """What a stopping rule asks of the fit, beside its name."""

    sigma: bool = False  # a Gaussian σ per image (given, or estimated from it): a denoising rule
    twins: int = 0  # extra nets it fits per member (SURE: the twin on y + εb)


#: Every stopping rule's facts, by name; STOP_RULES is the CLI's and the schema's list.
RULE_FACTS = {"auto": RuleFacts(), "fixed": RuleFacts(), "sure": RuleFacts(sigma=True, twins=1)}
STOP_RULES = tuple(RULE_FACTS)
SURE_EPSILON = 1e-3  # the Monte-Carlo divergence step, on the [0,1] scale


class Stopper(Protocol):
    """What the fit loop needs of a stopping rule, for `members` images fitted together."""

    stopped: list[bool]
    stop_iteration: list[int]
    stop_reason: list[str]  # in words, for people
    stop_kind: list[str]  # signals.SIGNAL, CAP or FIXED: how it ended, as data
    stop_signal: list[str]  # the signal that fired ("" for a cap or a fixed budget)

    def observe(self, iteration: int, output: torch.Tensor, smoothed: torch.Tensor) -> None:
        """Device-side bookkeeping after each step (K×C×H×W tensors, no host sync)."""

    def poll(self, iteration: int) -> None:
        """Host-side decision at a check point: mark members that have stopped."""

    def finish(self, iteration: int, smoothed: torch.Tensor) -> None:
        """The cap was reached: every member still running stops here."""

    def wants_more(self, iteration: int, cap: int) -> bool:
        """At the cap `cap`: whether a running member is worth more iterations (auto only)."""

    def expected_stop(self, k: int) -> int | None:
        """Where running member k is expected to stop (auto's data-fit trend), None if unknown."""

    def estimate(self, k: int) -> torch.Tensor:
        """Member k's returned estimate (C×H×W)."""

    def record(self, k: int) -> dict[str, Any]:
        """Member k's curves and choices, for the sidecar."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class FixedStop:
    """Run exactly the iteration budget, as the paper does; return the smoothed (EMA) output."""

    def __init__(self, members: int) -> None:
        self.stopped = [False] * members
        self.stop_iteration = [0] * members
        self.stop_reason = [""] * members
        self.stop_kind = [""] * members
        self.stop_signal = [""] * members
        self._final: torch.Tensor | None = None

    def observe(self, iteration: int, output: torch.Tensor, smoothed: torch.Tensor) -> None:
        pass

    def poll(self, iteration: int) -> None:
        pass

    def finish(self, iteration: int, smoothed: torch.Tensor) -> None:
        self._final = smoothed.clone()
        for k, done in enumerate(self.stopped):
            if not done:
                self.stopped[k] = True
                self.stop_iteration[k] = iteration
                self.stop_reason[k] = f"fixed: ran all {iteration} iterations"
                self.stop_kind[k] = FIXED

    def wants_more(self, iteration: int, cap: int) -> bool:
        return False

    def expected_stop(self, k: int) -> int | None:
        return None

    def estimate(self, k: int) -> torch.Tensor:
        assert self._final is not None, "estimate() before finish()"
        return self._final[k]

    def record(self, k: int) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class _MinimumRule:
    """Track a per-member criterion on the device; stop a member once it has stayed above its
    minimum for `patience` iterations.

    The chosen iterate is the last one whose criterion was within `tolerance` (relative) of the
    lowest value so far: on a flat stretch of the curve the fit is still gaining signal, so its end
    is a better choice than wherever the noise put the exact minimum. The estimate returned is the
    smoothed output snapshotted there, never the last iterate. Nothing before `min_start` counts
    (early false minima are a known failure), and a stopped member's choice is frozen.
    """

    name = ""
    rule = "auto"
    tolerance = 0.0

    def __init__(self, members: int, cap: int, patience: int, min_start: int,
                 device: torch.device) -> None:
        self.members = members
        self.patience = patience
        self.min_start = min_start
        self.stopped = [False] * members
        self.stop_iteration = [0] * members
        self.stop_reason = [""] * members
        self.stop_kind = [""] * members
        self.stop_signal = [""] * members
        self.curve = torch.full((cap, members), float("nan"), device=device)
        self.best_value = torch.full((members,), float("inf"), device=device)
        self.best_iteration = torch.zeros(members, dtype=torch.long, device=device)
        self.frozen = torch.zeros(members, dtype=torch.bool, device=device)
        self.best: torch.Tensor | None = None
        self._final: torch.Tensor | None = None

    def value(self, iteration: int, output: torch.Tensor, smoothed: torch.Tensor) -> torch.Tensor | None:
        """The criterion per member (K,), or None while it is not yet defined."""
        raise NotImplementedError

    def observe(self, iteration: int, output: torch.Tensor, smoothed: torch.Tensor) -> None:
        if self.best is None:
            self.best = smoothed.clone()
        value = self.value(iteration, output, smoothed)
        if value is None:
            return
        self.curve[iteration - 1] = value
        live = ~self.frozen & (iteration >= self.min_start)
        self.best_value = torch.where(live, torch.minimum(self.best_value, value), self.best_value)
        accept = live & (value <= self.best_value * (1 + self.tolerance))
        self.best_iteration = torch.where(accept, iteration, self.best_iteration)
        self.best = torch.where(accept[:, None, None, None], smoothed, self.best)

    def poll(self, iteration: int) -> None:
        best = self.best_iteration.tolist()
        for k, at in enumerate(best):
            if not self.stopped[k] and at > 0 and iteration - at >= self.patience:
                self._stop(k, at, f"{self.rule}: {self.name} {self._near_minimum()} at iteration "
                                  f"{at}, above it for the next {self.patience}", SIGNAL, self.name)

    def _near_minimum(self) -> str:
        return f"within {self.tolerance:.0%} of its minimum" if self.tolerance else "minimum"

    def _stop(self, k: int, at: int, reason: str, kind: str, signal: str = "") -> None:
        self.stopped[k] = True
        self.stop_iteration[k] = at
        self.stop_reason[k] = reason
        self.stop_kind[k] = kind
        self.stop_signal[k] = signal
        self.frozen[k] = True

    def finish(self, iteration: int, smoothed: torch.Tensor) -> None:
        self._final = smoothed.clone()
        best = self.best_iteration.tolist()
        for k, at in enumerate(best):
            if self.stopped[k]:
                continue
            if at > 0:
                self._stop(k, at, f"cap: reached {iteration} iterations; {self.name} "
                                  f"{self._near_minimum()} at iteration {at}", CAP)
            else:
                self._stop(k, iteration, f"cap: reached {iteration} iterations with no {self.name} "
                                         "minimum after the warm-up", CAP)

    def wants_more(self, iteration: int, cap: int) -> bool:
        return False

    def expected_stop(self, k: int) -> int | None:
        return None

    def estimate(self, k: int) -> torch.Tensor:
        assert self._final is not None, "estimate() before finish()"
        if int(self.best_iteration[k]) > 0 and self.best is not None:
            return self.best[k]
        return self._final[k]

    def record(self, k: int) -> dict[str, Any]:
        return {"stop_curve": subsample(self.curve[:, k].cpu().numpy(), 300),
                "stop_curve_name": self.name,
                "stop_settings": {"patience": self.patience, "min_start": self.min_start}}

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain values only (a numpy array as a tensor): a checkpoint loads it with
        weights_only=True."""
        return {key: torch.tensor(value) if isinstance(value := getattr(self, key), np.ndarray) else value
                for key in self._state_keys()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in self._state_keys():
            value = state[key]
            setattr(self, key, value.numpy() if isinstance(getattr(self, key), np.ndarray) else value)

    def _state_keys(self) -> tuple[str, ...]:
        return ("stopped", "stop_iteration", "stop_reason", "stop_kind", "stop_signal", "curve", "best_value",
                "best_iteration", "frozen", "best")


class WindowedVariance(_MinimumRule):
    """ES-WMV (Wang et al., arXiv 2112.06074): the per-pixel variance of the output over a sliding
    window, averaged over pixels, with running sums on the device. A fixed random subset of at most
    `subset` values per image keeps memory O(window × subset) whatever the image size."""

    name = "windowed variance"
    tolerance = 0.3  # benchmarks/RESULTS.md, "Early stopping": the end of the variance's plateau

    def __init__(self, members: int, cap: int, window: int, patience: int, min_start: int,
                 shape: tuple[int, ...], device: torch.device, subset: int = 65536, seed: int = 0):
        super().__init__(members, cap, patience, min_start, device)
        self.window = window
        n = int(torch.tensor(shape).prod())
        self.index: torch.Tensor | None = None
        if n > subset:
            gen = torch.Generator().manual_seed(seed)
            self.index = torch.randperm(n, generator=gen)[:subset].to(device)
        width = min(n, subset)
        self.buffer = torch.zeros(window, members, width, device=device)
        self.sum1 = torch.zeros(members, width, dtype=torch.float64, device=device)
        self.sum2 = torch.zeros_like(self.sum1)

    def value(self, iteration: int, output: torch.Tensor, smoothed: torch.Tensor) -> torch.Tensor | None:
        x = output.reshape(self.members, -1).float()
        if self.index is not None:
            x = x[:, self.index]
        slot = (iteration - 1) % self.window
        if iteration > self.window:
            old = self.buffer[slot].double()
            self.sum1 -= old
            self.sum2 -= old * old
        self.buffer[slot] = x
        xd = x.double()
        self.sum1 += xd
        self.sum2 += xd * xd
        if iteration < self.window:
            return None
        mean = self.sum1 / self.window
        return (self.sum2 / self.window - mean * mean).clamp_min(0).mean(1).float()

    def _state_keys(self) -> tuple[str, ...]:
        return (*super()._state_keys(), "buffer", "sum1", "sum2")


class AutoStop(WindowedVariance):
    """`auto`: the discrepancy principle, with the variance plateau as its guarded backup.

    The windowed variance is tracked on the device at every step; at each check point the smoothed
    estimate's data-fit is measured (`datafit`, K values) and `stop_signals.decide` rules on the
    curves' prefixes, per member. A member whose data-fit never comes near its noise floor and whose
    variance never plateaus runs to the cap and returns its last estimate.
    """

    name = "windowed variance"

    def __init__(self, members: int, cap: int, window: int, rules: list[AutoRule], floors: list[float | None],
                 datafit: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...],
                 device: torch.device, subset: int = 65536, seed: int = 0,
                 budgets: list[int | None] | None = None) -> None:
        super().__init__(members, cap, window, rules[0].patience, rules[0].min_start, shape, device, subset,
                         seed)
        self.settings = rules  # each member's: they differ only in the discrepancy threshold
        self.floors = floors
        self.budgets = budgets or [None] * members  # a member with a budget (DIP-SURE) runs just that
        self.datafit = datafit
        self.fit = np.full((cap, members), np.nan)
        self.candidates: list[list[int]] = [[] for _ in range(members)]
        self._smoothed: torch.Tensor | None = None

    def observe(self, iteration: int, output: torch.Tensor, smoothed: torch.Tensor) -> None:
        if self.best is None:
            self.best = smoothed.clone()
        value = self.value(iteration, output, smoothed)
        if value is not None:
            self.curve[iteration - 1] = value
        self._smoothed = smoothed

    def poll(self, iteration: int) -> None:
        if self._smoothed is None:
            return
        with torch.no_grad():
            self.fit[iteration - 1] = self.datafit(self._smoothed).cpu().numpy()
        variance = self.curve[:iteration].cpu().numpy()
        keep = []
        for k in range(self.members):
            if self.stopped[k]:
                keep.append(False)
                continue
            budget = self.budgets[k]
            if budget is not None:  # no signal decides: it stops at its budget, with its estimate there
                keep.append(iteration >= budget)
                if iteration >= budget:
                    self.candidates[k].append(iteration)
                    self._stop(k, iteration, f"fixed: a DIP-SURE member's {budget} iterations", FIXED)
                continue
            decision = decide(iteration, variance[:, k], self.fit[:iteration, k], self.floors[k],
                              self.settings[k], self.candidates[k])
            keep.append(decision.snapshot)
            if decision.snapshot:
                self.candidates[k].append(iteration)
            if decision.stop:
                self._stop(k, self.candidates[k][-1], f"auto: {decision.reason}", SIGNAL, decision.signal)
        mask = torch.tensor(keep, device=self._smoothed.device)
        assert self.best is not None  # set by the first observe
        self.best = torch.where(mask[:, None, None, None], self._smoothed, self.best)

    def finish(self, iteration: int, smoothed: torch.Tensor) -> None:
        self._final = smoothed.clone()
        for k in range(self.members):
            if self.stopped[k]:
                continue
            floor, fit = self.floors[k], self.fit[:iteration, k]
            level = fit[np.isfinite(fit)]
            where = f"; the data-fit ended at {level[-1] / floor:.2f}× the noise floor" \
                if floor and len(level) else ""
            self._stop(k, iteration, f"cap: reached {iteration} iterations with no stop signal{where}", CAP)

    def wants_more(self, iteration: int, cap: int) -> bool:
        """Whether a running member's data-fit is still far above its floor and falling at the cap
        (`stop_signals.extends`, looking back a quarter of the cap)."""
        return any(not self.stopped[k] and self.budgets[k] is None
                   and extends(self.fit[:iteration, k], self.floors[k], self.settings[k], cap // 4)
                   for k in range(self.members))

    def expected_stop(self, k: int) -> int | None:
        budget = self.budgets[k]
        if budget is not None:
            return budget
        return expected_crossing(self.fit[:, k], self.floors[k], self.settings[k])

    def estimate(self, k: int) -> torch.Tensor:
        assert self._final is not None and self.best is not None, "estimate() before finish()"
        return self._final[k] if self.stop_kind[k] == CAP else self.best[k]

    def record(self, k: int) -> dict[str, Any]:
        record = super().record(k)
        record["stop_settings"] = {**asdict(self.settings[k]), "window": self.window}
        if self.floors[k]:
            measured = self.fit[: self.stop_iteration[k], k]
            measured = measured[np.isfinite(measured)]
            record["noise_floor"] = self.floors[k]
            record["datafit_curve"] = subsample(self.fit[:, k], 300)
            record["datafit_ratio"] = float(measured[-1] / self.floors[k]) if len(measured) else None
        return record

    def _state_keys(self) -> tuple[str, ...]:
        return (*super()._state_keys(), "fit", "candidates")


class MonteCarloSure(_MinimumRule):
    """SURE for Gaussian noise of known σ, with the divergence by Monte Carlo (Ramani et al. 2008).

    The fit is a deterministic map y ↦ x_t(y) for a fixed seed, so each image is fitted twice in one
    batch: on y and on y + ε·b (same seed). Members K..2K-1 are those twins.
    SURE_t = ‖y − x_t‖²/n − σ² + 2σ²/n · bᵀ(x_t(y + εb) − x_t(y))/ε.
    """

    name = "SURE"
    rule = "sure"

    def __init__(self, images: int, cap: int, patience: int, min_start: int,
                 observations: torch.Tensor, probes: torch.Tensor, sigmas: list[float],
                 epsilon: float, device: torch.device) -> None:
        super().__init__(2 * images, cap, patience, min_start, device)
        self.images = images
        self.observations = observations.to(device)
        self.probes = probes.to(device)
        self.sigma2 = torch.tensor(sigmas, device=device) ** 2
        self.epsilon = epsilon

    def value(self, iteration: int, output: torch.Tensor, smoothed: torch.Tensor) -> torch.Tensor | None:
        k = self.images
        x, twin = smoothed[:k].float(), smoothed[k:].float()
        n = x[0].numel()
        fit = ((self.observations - x) ** 2).reshape(k, -1).mean(1)
        div = (self.probes * (twin - x)).reshape(k, -1).sum(1) / self.epsilon
        sure = fit - self.sigma2 + 2 * self.sigma2 * div / n
        return torch.cat([sure, sure])  # a twin stops with its image

    def poll(self, iteration: int) -> None:
        super().poll(iteration)
        for k in range(self.images):
            if self.stopped[k] and not self.stopped[k + self.images]:
                self._stop(k + self.images, self.stop_iteration[k], self.stop_reason[k], self.stop_kind[k],
                           self.stop_signal[k])


@dataclass(frozen=True)
class StopOptions:
    """How a fit decides to stop. Unset window/patience/warm-up scale with the iteration cap."""

    rule: str = "auto"  # "auto" (discrepancy, then the variance plateau) | "fixed" | "sure"
    window: int | None = None
    patience: int | None = None
    min_start: int | None = None
    sigma: float | None = None  # Gaussian noise σ in the image's stored units, for `auto`/`sure`

    def resolved(self, cap: int) -> tuple[int, int, int]:
        """(window, patience, min_start) for an iteration cap: 100/500/300 at the paper's 3000."""
        window = self.window or max(10, min(100, cap // 10))
        patience = self.patience or max(25, cap // 6)
        min_start = self.min_start if self.min_start is not None else cap // 10
        return window, patience, min_start


@dataclass
class StopRule:
    """A stopping rule ready for the fit: the stopper, and the problems' twin observations when the
    rule needs them (SURE: y + εb per image, fitted as members K..2K-1 after the K images)."""

    stopper: Stopper
    twins: torch.Tensor | None = None
    limit: int = 0  # the most iterations the rule may take the fit to (auto extends its cap up to it)


def make_stop_rule(options: StopOptions, problems: Sequence[Problem], cap: int, device: torch.device, *,
                   seed: int = 0, sigmas: Sequence[float | None] | None = None,
                   denoising: bool = True, discrepancy: Threshold = DISCREPANCY_RATIO) -> StopRule:
    """The rule `options.rule` for K problems (images or tiles fitted together) under an iteration cap.

    `sigmas` are the images' Gaussian noise σ on the [0,1] scale: given (`auto` takes None as
    "estimate it"), and required by `sure`. `auto` knows a noise floor only when `denoising`, and
    stops once the data-fit is down to `discrepancy` × that floor (the task's, `Task.discrepancy`; a
    ContrastThreshold picks each problem's from its observation's peak contrast).
    """
    members = len(problems)
    if options.rule == "fixed":
        return StopRule(FixedStop(members), limit=cap)
    window, patience, min_start = options.resolved(cap)
    sigmas = list(sigmas) if sigmas is not None else [None] * members
    shape = (problems[0].channels, *problems[0].size)
    if options.rule == "auto":
        terms = [noise_terms(p, s) if denoising else None for p, s in zip(problems, sigmas, strict=True)]
        floors = [floor_of(p, t) for p, t in zip(problems, terms, strict=True)]
        observations = [p.observation.to(device) for p in problems]
        weights = [None if p.weight is None else p.weight.to(device) for p in problems]

        def datafit(smoothed: torch.Tensor) -> torch.Tensor:
            return torch.stack([p.datafit(p.operator(smoothed[k:k + 1]), observations[k][None], weights[k])
                                for k, p in enumerate(problems)])

        rules = [AutoRule(patience, min_start, *threshold_of(t, discrepancy)) for t in terms]
        limit = cap * rules[0].extend_limit  # the buffers hold an extended fit
        budgets = [None if p.sure_sigma is None else dipsure.budget(cap) for p in problems]
        return StopRule(AutoStop(members, limit, window, rules, floors, datafit, shape, device, seed=seed,
                                 budgets=budgets), limit=limit)
    if options.rule == "sure":
        known = [s for s in sigmas if s is not None]
        if len(known) < members:
            raise ValueError("the sure rule needs each image's noise sigma")
        stacked = torch.stack([p.observation for p in problems])
        gen = torch.Generator().manual_seed(seed + 2)
        probes = torch.stack([torch.randn(y.shape, generator=gen) for y in stacked])
        stopper = MonteCarloSure(members, cap, patience, min_start, stacked, probes, known, SURE_EPSILON,
                                 device)
        return StopRule(stopper, stacked + SURE_EPSILON * probes, limit=cap)
    raise FieldError(f"`stop` {options.rule}",
                     f"unknown stopping rule; choose one of {', '.join(STOP_RULES)}")


@dataclass(frozen=True)
class NoiseTerms:
    """A problem's observation as its noise model sees it: `values` in that model's units (counts for
    poisson), its Gaussian σ where there is one, and the pixels' weights."""

    noise: str  # "gaussian", "poisson" or "poisson-gaussian" (Anscombe MSE)
    values: np.ndarray
    sigma: float | None = None
    weight: np.ndarray | None = None


def noise_terms(problem: Problem, sigma: float | None = None) -> NoiseTerms | None:
    """The problem's noise terms (`sigma` given, or estimated for Gaussian noise); None where its
    data-fit has no known noise model (e.g. a photon loss through a stretch) or σ is not found."""
    y = problem.observation.numpy()
    term = problem.datafit
    weight = None if problem.weight is None else problem.weight.numpy()
    if term is losses.gaussian:
        sigma = sigma if sigma is not None else noise_sigma(y)
        return None if sigma is None else NoiseTerms("gaussian", y, sigma, weight)
    if isinstance(term, partial) and term.func is losses.poisson:
        photometry = term.keywords["photometry"]
        return NoiseTerms("poisson", photometry.electrons(torch.from_numpy(y)).numpy(), weight=weight)
    if isinstance(term, partial) and term.func is losses.poisson_gaussian:
        return NoiseTerms("poisson-gaussian", y, weight=weight)
    return None


def floor_of(problem: Problem, terms: NoiseTerms | None) -> float | None:
    """The data-fit of the truth for a denoising problem with these noise terms (None where its noise
    model is unknown, or too many pixels are left out for a noise estimate)."""
    if terms is None or (problem.weight is not None and float(problem.weight.mean()) < 0.9):
        return None
    return noise_floor(terms.values, terms.noise, sigma=terms.sigma, gain=1.0, weight=terms.weight)


def problem_floor(problem: Problem, sigma: float | None = None) -> float | None:
    """The data-fit of the truth for a denoising problem (None where its noise model is unknown)."""
    return floor_of(problem, noise_terms(problem, sigma))


def threshold_of(terms: NoiseTerms | None, threshold: Threshold) -> tuple[float, float | None]:
    """The discrepancy threshold for a problem with these noise terms, and the peak contrast that
    chose it (None for a fixed ratio, or where the contrast is unknown)."""
    if not isinstance(threshold, ContrastThreshold):
        return threshold, None
    contrast = None if terms is None else peak_contrast(terms.values, terms.noise, sigma=terms.sigma,
                                                        weight=terms.weight)
    return threshold.at(contrast), contrast
