"""Build a generator for a NetSpec, for one image or several side by side, and move members' weights."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from dipbatch.nets.decoder import DeepDecoder
from dipbatch.nets.members import LAYOUTS, backward_member, separate_members
from dipbatch.nets.skip import SkipNet
from dipbatch.nets.spec import NetSpec


def build_generator(spec: NetSpec, in_channels: int, out_channels: int,
                    seeds: list[int]) -> nn.Module:
    """Build a generator for len(seeds) images; member k is initialised as a lone net seeded seeds[k]."""
    members = len(seeds)
    net = _build(spec, in_channels, out_channels, members)
    if members > 1:
        for k, seed in enumerate(seeds):
            load_member(net, k, members, _seeded(spec, in_channels, out_channels, seed).state_dict())
    else:
        net = _seeded(spec, in_channels, out_channels, seeds[0])
    return net


def member_passes(net: nn.Module, spec: NetSpec, in_channels: int, out_channels: int, members: int,
                  layout: str) -> list[tuple[nn.Module, range, Callable[[torch.Tensor], None]]]:
    """What computes which members, and how their loss is backpropagated: the grouped net all at
    once ("grouped"), or one lone net per member viewing its slices of the grouped net
    ("separate": the same maths, faster on a CPU)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown member layout {layout!r}")
    if layout == "grouped" or members == 1:
        return [(net, range(members), torch.Tensor.backward)]
    lones = separate_members(net, lambda: _build(spec, in_channels, out_channels, 1), members)
    return [(lone, range(k, k + 1), partial(backward_member, lone)) for k, lone in enumerate(lones)]


def _seeded(spec: NetSpec, in_channels: int, out_channels: int, seed: int) -> nn.Module:
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return _build(spec, in_channels, out_channels, 1)
    finally:
        torch.random.set_rng_state(state)


def _build(spec: NetSpec, in_channels: int, out_channels: int, members: int) -> nn.Module:
    if spec.kind == "deep-decoder":
        return DeepDecoder(spec, out_channels, members)
    return SkipNet(spec, in_channels, out_channels, members)


@torch.no_grad()
def load_member(net: nn.Module, k: int, members: int, lone_state: dict[str, torch.Tensor]) -> None:
    """Copy a lone net's state into member k of a grouped net."""
    for name, tensor in net.state_dict().items():
        if tensor.dim() == 0:
            continue
        part = tensor.unflatten(0, (members, -1))[k]  # a view in any memory layout (channels_last too)
        part.copy_(lone_state[name].reshape(part.shape))


def member_state(net: nn.Module, k: int, members: int) -> dict[str, torch.Tensor]:
    """The parameters and buffers of member k, shaped as a lone net's."""
    return {name: t.unflatten(0, (members, -1))[k].reshape(-1).clone() if t.dim() else t.clone()
            for name, t in net.state_dict().items()}


def canvas_size(spec: NetSpec, height: int, width: int) -> tuple[int, int]:
    """The generator's output size for an image: a multiple of 2**scales, large enough for its padding."""
    step = 2 ** spec.scales
    smallest = spec.smallest_canvas()

    def up(n: int) -> int:
        return max(smallest, -(-n // step) * step)

    return up(height), up(width)
