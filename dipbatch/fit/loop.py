"""The fit loop: several images, each with its own generator, fitted together (one grouped
computation on a GPU, the members in turn on a CPU: SpeedOptions.member_layout).

It knows nothing of files or the CLI. EMA, the blow-up guard, stopping, progress and checkpoints
are small objects it calls. Its whole state can be saved and restored (resume after a kill).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Protocol

import numpy as np
import torch

from dipbatch.errors import short
from dipbatch.fit import dipsure, interrupt
from dipbatch.fit.curves import subsample
from dipbatch.fit.presets import Preset
from dipbatch.fit.problem import Problem
from dipbatch.fit.speed import SpeedOptions, configure_backends
from dipbatch.fit.stopping import FixedStop, Stopper
from dipbatch.nets.build import build_generator, canvas_size, member_passes

ProgressHook = Callable[[int, int, list[float]], None]
CheckpointHook = Callable[[dict[str, Any]], None]


class Observer(Protocol):
    """Something that watches the fit (e.g. the spectral recorder) without steering it."""

    def observe(self, iteration: int, output: torch.Tensor, smoothed: torch.Tensor) -> None: ...

    def record(self, k: int, stop_iteration: int) -> dict[str, Any]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class StatelessObserver:
    """An Observer base that adds nothing to the sidecar and keeps nothing in the checkpoint (the
    benchmarks' recorders): subclasses only `observe`."""

    def record(self, k: int, stop_iteration: int) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


HEARTBEAT_S = 1.0  # progress between check points at most this often (a large frame's steps are slow)
BLOWUP_FACTOR = 10 ** 0.5  # a loss 3.16× its recent level: the original's 5 dB drop, on the loss


@dataclass
class FitResult:
    estimate: np.ndarray  # C×H×W float32 in [0,1]
    iterations: int
    stop_iteration: int
    stop_reason: str
    final_loss: float
    loss_curve: list[tuple[int, float]]
    restores: int  # how often the blow-up guard rolled back
    record: dict[str, Any]
    stop_kind: str = ""  # signals.SIGNAL, CAP or FIXED
    stop_signal: str = ""  # the signal that fired, if one did

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain values only, as a checkpoint holds them."""
        return {**{f.name: getattr(self, f.name) for f in fields(self)},
                "estimate": torch.from_numpy(self.estimate)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FitResult:
        return cls(**{**state, "estimate": state["estimate"].numpy()})


def make_input(kind: str, depth: int, size: tuple[int, int], seed: int, scale: float,
               guide: torch.Tensor | None = None) -> torch.Tensor:
    """The generator's fixed input z for one image: depth×H×W."""
    h, w = size
    if kind == "noise":
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(depth, h, w, generator=gen) * scale
    if kind == "meshgrid":
        ys, xs = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
        return torch.stack([xs, ys])
    if kind == "guide" and guide is not None:
        return pad_to(guide, size)
    raise ValueError(f"unknown generator input {kind!r}")


def pad_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Pad C×h×w to C×H×W around the centre, reflecting where the image is large enough."""
    dh, dw = size[0] - x.shape[-2], size[1] - x.shape[-1]
    pad = (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2)
    mode = "reflect" if max(pad) < min(x.shape[-2:]) else "replicate"
    return torch.nn.functional.pad(x[None], pad, mode=mode)[0]


class Fitter:
    """Fit one generator per problem, all at once; problems must share estimate size and channels."""

    def __init__(self, problems: list[Problem], preset: Preset, seeds: list[int],
                 device: torch.device | str = "cpu", stopper: Stopper | None = None,
                 iterations: int | None = None, check_every: int = 50,
                 observers: list[Observer] | None = None, speed: SpeedOptions | None = None,
                 limit: int | None = None) -> None:
        sizes = {(p.size, p.channels) for p in problems}
        if len(sizes) != 1:
            raise ValueError(f"a batch needs one estimate size and channel count, got {sizes}")
        self.problems = problems
        self.preset = preset
        self.members = len(problems)
        self.device = torch.device(device)
        self.cap = iterations or preset.fit.iterations
        self.base_cap = self.cap  # the cap as asked; `limit`: how far the stopper may extend it
        self.limit = max(limit or self.cap, self.cap)
        self.check_every = check_every
        self.size = problems[0].size
        self.channels = problems[0].channels
        self.canvas = canvas_size(preset.net, *self.size)
        spec = preset.net
        depth, z_size = self._input_shape()
        self.net = build_generator(spec, depth, self.channels, seeds).to(self.device)
        self.net.train()  # BatchNorm always uses batch statistics, as in the original code
        self.z = torch.cat([
            make_input(preset.fit.input, depth, z_size, s, preset.fit.input_scale, p.guide)
            if p.sure_sigma is None else dipsure.input_of(pad_to(p.observation, z_size), depth)
            for s, p in zip(seeds, problems, strict=True)
        ])[None].to(self.device)
        speed = speed or SpeedOptions()
        configure_backends(speed, self.device)
        self.autocast = speed.autocast_dtype(self.device)
        if speed.use_channels_last(self.device):
            self.net = self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs lack memory_format
            self.z = self.z.contiguous(memory_format=torch.channels_last)
        self.member_layout = speed.member_layout(self.device)
        self.passes = [(torch.compile(net) if speed.compile else net, members, backward)
                       for net, members, backward in member_passes(self.net, spec, depth, self.channels,
                                                         self.members, self.member_layout)]
        self.noise_gens = [torch.Generator(self.device).manual_seed(s + 1) for s in seeds]
        self.opt = torch.optim.Adam(self.net.parameters(), lr=preset.fit.lr)
        self.observations = [p.observation.to(self.device) for p in problems]
        self.weights = [None if p.weight is None else p.weight.to(self.device) for p in problems]
        self.scales = None if all(p.scale == 1.0 for p in problems) else \
            torch.tensor([p.scale for p in problems], device=self.device).view(-1, 1, 1, 1)
        self.stopper: Stopper = stopper or FixedStop(self.members)
        self.observers = observers or []
        self.iteration = 0
        self.ema: torch.Tensor | None = None
        self.loss_log = torch.zeros(self.limit, self.members, device=self.device)
        self.restores = [0] * self.members
        self._good_level = [math.inf] * self.members
        self._snapshot: dict[str, Any] | None = None

    def _input_shape(self) -> tuple[int, tuple[int, int]]:
        spec, fit = self.preset.net, self.preset.fit
        if spec.kind == "deep-decoder":
            step = 2 ** spec.scales
            return spec.decoder_channels[0], (self.canvas[0] // step, self.canvas[1] // step)
        if fit.input == "meshgrid":
            return 2, self.canvas
        if fit.input == "guide":
            return self.channels, self.canvas
        return spec.input_depth, self.canvas

    # ---- one step -------------------------------------------------------------------------
    def _forward(self, z: torch.Tensor, generator: Callable[[torch.Tensor], torch.Tensor] | None = None
                 ) -> torch.Tensor:
        """The estimates of the members that `generator` (default: the first pass's) computes from
        their part of z, cropped to the image: n×C×H×W."""
        with torch.autocast(self.device.type, dtype=self.autocast or torch.bfloat16,
                            enabled=self.autocast is not None):
            out = (generator or self.passes[0][0])(z)
        out = out.float().reshape(-1, self.channels, *self.canvas)
        (h, w), (top, left) = self.size, self.image_offset()
        return out[:, :, top:top + h, left:left + w]

    def image_offset(self) -> tuple[int, int]:
        """Where the image starts on the generator's canvas (top, left): it is centred there."""
        (h, w), (hc, wc) = self.size, self.canvas
        return (hc - h) // 2, (wc - w) // 2

    def _loss(self, k: int, estimate: torch.Tensor) -> torch.Tensor:
        problem = self.problems[k]
        loss = problem.datafit(problem.operator(estimate), self.observations[k][None], self.weights[k])
        return loss if problem.prior is None else loss + problem.prior(estimate)

    def step(self) -> torch.Tensor:
        """One Adam step for every member (a stopped member's own pass, where it has one, is skipped);
        returns the per-member losses (on the device)."""
        z = self.jittered_input()
        depth = self.z.shape[1] // self.members
        self.opt.zero_grad(set_to_none=True)
        outs, losses = [], []
        for generator, members, backward in self.passes:  # separate: one graph in memory at a time
            if len(self.passes) > 1 and all(self.stopper.stopped[k] for k in members):
                assert self.ema is not None  # a member stops after a step at the earliest
                outs.append(self.ema[members.start:members.stop])  # its estimate is frozen: skip it
                losses.append(self.loss_log[self.iteration - 1, members.start:members.stop])
                continue
            part = z[:, members.start * depth:members.stop * depth]
            estimates = self._scaled(self._forward(part, generator), members)
            pass_losses = torch.stack([
                self._loss(k, estimates[i:i + 1]) for i, k in enumerate(members)
            ])
            objective = pass_losses.sum()
            if any(self.problems[k].sure_sigma is not None for k in members):
                objective = objective + self._sure_penalty(part, members, estimates, generator)
            backward(objective)
            outs.append(estimates.detach())
            losses.append(pass_losses.detach())
        return self.advance(torch.cat(outs), torch.cat(losses))

    def _scaled(self, estimates: torch.Tensor, members: range) -> torch.Tensor:
        """The members' estimates times their problems' scales (no extra kernel where every scale is 1)."""
        return estimates if self.scales is None else estimates * self.scales[members.start:members.stop]

    def _sure_penalty(self, part: torch.Tensor, members: range, estimates: torch.Tensor,
                      generator: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """The DIP-SURE members' divergence terms (fit/dipsure.py) for the pass of `members` (its
        input `part`), one fresh probe each, drawn from the member's own noise generator (so a
        resumed fit draws the same probes)."""
        depth = part.shape[1] // len(members)
        (h, w), (top, left) = self.size, self.image_offset()
        moved = part.clone()
        probes: list[tuple[int, float, torch.Tensor]] = []  # (place in the pass, σ, probe)
        for i, k in enumerate(members):
            sigma = self.problems[k].sure_sigma
            if sigma is not None:
                b = torch.randn(self.channels, h, w, generator=self.noise_gens[k], device=self.device)
                moved[0, i * depth:i * depth + self.channels, top:top + h, left:left + w] += dipsure.TAU * b
                probes.append((i, sigma, b))
        out = self._scaled(self._forward(moved, generator), members)
        return torch.stack([dipsure.divergence_penalty(sigma, b, out[i], estimates[i])
                            for i, sigma, b in probes]).sum()

    def jittered_input(self) -> torch.Tensor:
        """This step's generator input: z plus fresh noise of `reg_noise_std` for every member."""
        std = self.preset.fit.reg_noise_std
        if std <= 0:
            return self.z
        depth = self.z.shape[1] // self.members
        noise = torch.cat([
            torch.randn(depth, *self.z.shape[2:], generator=g, device=self.device)
            for g in self.noise_gens
        ])
        return self.z + noise[None] * std

    def advance(self, out: torch.Tensor, member_losses: torch.Tensor) -> torch.Tensor:
        """End a step whose gradients are in place: Adam's update, the EMA estimate of this step's
        output `out`, the loss log and the stop's and observers' look; returns the losses."""
        self.opt.step()
        weight = self.preset.fit.ema
        if weight is None:
            self.ema = out
        elif self.ema is None:
            self.ema = out.clone()
        else:
            self.ema.mul_(weight).add_(out, alpha=1 - weight)
        self.loss_log[self.iteration] = member_losses.detach()
        self.iteration += 1
        self.stopper.observe(self.iteration, out, self.ema)
        for observer in self.observers:
            observer.observe(self.iteration, out, self.ema)
        return member_losses.detach()

    # ---- the loop ---------------------------------------------------------------------------
    def run(self, progress: ProgressHook | None = None, checkpoint: CheckpointHook | None = None,
            checkpoint_every: int = 0) -> list[FitResult]:
        """Fit to the stop or the cap. On a signal (see `interrupt`) save the state through
        `checkpoint` after the current step and raise `Interrupted`. `progress` is called at each
        check point and at least every HEARTBEAT_S seconds between them."""
        beat = time.monotonic() + HEARTBEAT_S
        with interrupt.in_fit():
            while self.iteration < self.cap and not all(self.stopper.stopped):
                self.step()
                at_check = self.iteration % self.check_every == 0 or self.iteration == self.cap
                if at_check:
                    self._guard()
                    self.stopper.poll(self.iteration)
                if progress and (at_check or time.monotonic() >= beat):
                    progress(self.iteration, self.cap, self._recent_losses())
                    beat = time.monotonic() + HEARTBEAT_S
                if checkpoint and checkpoint_every and self.iteration % checkpoint_every == 0 \
                        and self.iteration < self.cap and not all(self.stopper.stopped):
                    checkpoint(self.state_dict())  # every N iterations, whatever check_every is
                if self.iteration == self.cap and self.cap < self.limit and not all(self.stopper.stopped) \
                        and self.stopper.wants_more(self.iteration, self.base_cap):
                    self.cap = min(self.limit, self.cap + self.base_cap // 2)  # still far off, and closing in
                if interrupt.pending() is not None:  # checked last: the iteration is complete
                    self._stop_for_signal(checkpoint)
        assert self.ema is not None
        self.stopper.finish(self.iteration, self.ema)
        return [self._result(k) for k in range(self.members)]

    def _stop_for_signal(self, checkpoint: CheckpointHook | None) -> None:
        """Save the whole state (a step has just completed) and raise `Interrupted`."""
        if checkpoint:
            checkpoint(self.state_dict())
        stop = interrupt.stop_now()
        stop.iteration = self.iteration
        raise stop

    def _recent_losses(self) -> list[float]:
        return self.loss_log[self.iteration - 1].tolist()

    def _result(self, k: int) -> FitResult:
        log = self.loss_log[: self.iteration, k].cpu().numpy()
        return FitResult(
            estimate=self.stopper.estimate(k).float().cpu().numpy(),
            iterations=self.iteration,
            stop_iteration=self.stopper.stop_iteration[k],
            stop_reason=self.stopper.stop_reason[k],
            stop_kind=self.stopper.stop_kind[k],
            stop_signal=self.stopper.stop_signal[k],
            final_loss=float(log[-1]) if len(log) else math.nan,
            loss_curve=subsample(log, 200),
            restores=self.restores[k],
            record=self._record(k),
        )

    def _record(self, k: int) -> dict[str, Any]:
        record = {"member_layout": self.member_layout, **self.stopper.record(k)}
        if self.cap > self.base_cap:  # the data-fit was still far above the noise floor and falling
            record["cap_extended"] = {"from": self.base_cap, "to": self.cap, "limit": self.limit}
        for observer in self.observers:
            record.update(observer.record(k, self.stopper.stop_iteration[k]))
        return record

    # ---- blow-up guard ------------------------------------------------------------------------
    def _take_snapshot(self) -> dict[str, Any]:
        return {
            "params": [p.detach().clone() for p in self.net.parameters()],
            "moments": [[s.clone() for s in self._moments(p)] for p in self.net.parameters()],
            "ema": None if self.ema is None else self.ema.clone(),
        }

    def _moments(self, p: torch.Tensor) -> list[torch.Tensor]:
        state = self.opt.state.get(p, {})
        return [state[key] for key in ("exp_avg", "exp_avg_sq") if key in state]

    @torch.no_grad()
    def _guard(self) -> None:
        """Roll back any member whose loss jumped far above its last good level (one host sync)."""
        start = max(0, self.iteration - self.check_every)
        recent = self.loss_log[start:self.iteration].mean(0).tolist()
        fresh = self._take_snapshot()
        rolled_back = False
        for k, level in enumerate(recent):
            if math.isfinite(level) and level <= BLOWUP_FACTOR * self._good_level[k]:
                self._good_level[k] = level
            elif self._snapshot is not None:
                self._copy_member(k, self._snapshot, fresh)
                self.restores[k] += 1
                rolled_back = True
        if rolled_back:
            self._restore_from(fresh)
        self._snapshot = fresh

    def _copy_member(self, k: int, source: dict[str, Any], target: dict[str, Any]) -> None:
        """Copy member k's slice of every saved tensor from one snapshot into another."""
        n = self.members
        pairs = list(zip(source["params"], target["params"], strict=True))
        for src_m, dst_m in zip(source["moments"], target["moments"], strict=True):
            pairs += list(zip(src_m, dst_m, strict=True))
        if source["ema"] is not None and target["ema"] is not None:
            pairs.append((source["ema"], target["ema"]))
        for src, dst in pairs:
            dst.view(n, -1)[k].copy_(src.view(n, -1)[k])

    def _restore_from(self, snap: dict[str, Any]) -> None:
        """Make the live state equal to `snap` (which holds the rolled-back members' old values)."""
        for p, saved, moments in zip(self.net.parameters(), snap["params"], snap["moments"],
                                     strict=True):
            p.data.copy_(saved)
            for live, m in zip(self._moments(p), moments, strict=True):
                live.copy_(m)
        if snap["ema"] is not None and self.ema is not None:
            self.ema.copy_(snap["ema"])

    # ---- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "cap": self.cap,
            "net": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "ema": self.ema,
            "loss_log": self.loss_log,
            "noise_gens": [g.get_state() for g in self.noise_gens],
            "restores": self.restores,
            "good_level": self._good_level,
            "snapshot": self._snapshot,
            "stopper": self.stopper.state_dict(),
            "observers": [o.state_dict() for o in self.observers],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from `state`, all or nothing: a state that another fit saved (another image size,
        member count or types) raises ValueError and leaves this fit as it was."""
        backup = copy.deepcopy(self.state_dict())
        try:
            mismatch = state_mismatch(backup, state)
            if mismatch:
                raise ValueError(mismatch)
            self._load(state)
            mismatch = state_mismatch(self._expected_layout(), self.state_dict())
            if mismatch:
                raise ValueError(mismatch)
        except Exception as exc:
            self._load(backup)
            raise ValueError(f"the saved state is not this fit's ({short(exc)})") from None

    def _expected_layout(self) -> dict[str, Any]:
        """The shapes that the parts a fresh fit lacks (EMA, snapshot, Adam's moments) must have
        once loaded."""
        params = [torch.empty_like(p, device="meta") for p in self.net.parameters()]
        moments = {i: {"exp_avg": p, "exp_avg_sq": p} for i, p in enumerate(params)
                   if i in self.opt.state_dict()["state"]}
        return {"ema": None if self.ema is None else torch.empty(
                    self.members, self.channels, *self.size, device="meta"),
                "snapshot": None if self._snapshot is None else {"params": params},
                "opt": {"state": moments}}

    def _load(self, state: dict[str, Any]) -> None:
        self.iteration = state["iteration"]
        self.cap = state["cap"]
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.ema = on_device(state["ema"], self.device)  # a checkpoint is read onto the CPU
        self.loss_log.copy_(state["loss_log"])
        for g, s in zip(self.noise_gens, state["noise_gens"], strict=True):
            g.set_state(s)
        self.restores = list(state["restores"])
        self._good_level = list(state["good_level"])
        self._snapshot = on_device(state["snapshot"], self.device)
        self.stopper.load_state_dict(on_device(state["stopper"], self.device))
        for observer, saved in zip(self.observers, state["observers"], strict=True):
            observer.load_state_dict(on_device(saved, self.device))
        if not self.base_cap <= self.cap <= self.limit or not 0 <= self.iteration <= self.cap:
            raise ValueError(f"iteration {self.iteration} of cap {self.cap} is outside 0..{self.limit}")


def on_device(state: Any, device: torch.device) -> Any:
    """`state` with its tensors moved to `device` (lists, tuples and dicts followed)."""
    if isinstance(state, torch.Tensor):
        return state.to(device)
    if isinstance(state, dict):
        return {key: on_device(value, device) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(on_device(value, device) for value in state)
    return state


def state_mismatch(live: Any, saved: Any, where: str = "state") -> str | None:
    """Where `saved` does not have the layout of `live` (tensor shapes and types, list lengths, dict
    keys, the types of plain values), or None. A None in `live` (not there yet) matches anything."""
    if live is None:
        return None
    if isinstance(live, torch.Tensor):
        if not isinstance(saved, torch.Tensor) or saved.shape != live.shape or saved.dtype != live.dtype:
            shown = tuple(saved.shape) if isinstance(saved, torch.Tensor) else type(saved).__name__
            return f"{where} is {shown}, not a {live.dtype} tensor of {tuple(live.shape)}"
        return None
    if isinstance(live, dict):
        if not isinstance(saved, dict):
            return f"{where} is a {type(saved).__name__}, not a dict"
        for key, value in live.items():
            if key not in saved:
                return f"{where} has no {key!r}"
            found = state_mismatch(value, saved[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(live, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(live):
            return f"{where} is not a list of {len(live)}"
        return next(filter(None, (state_mismatch(a, b, f"{where}[{i}]")
                                  for i, (a, b) in enumerate(zip(live, saved, strict=True)))), None)
    if isinstance(live, bool) or not isinstance(live, (int, float)):
        fits = isinstance(saved, type(live))
    else:  # a float may hold a whole number; an int may not hold a fraction
        fits = isinstance(saved, int) if isinstance(live, int) else isinstance(saved, (int, float))
    return None if fits else f"{where} is a {type(saved).__name__}, not a {type(live).__name__}"
