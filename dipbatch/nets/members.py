"""Running a grouped generator's members one after another, each through a lone net's layers.

A grouped net (nets/build.py) keeps member k's parameters as the k-th slice along dimension 0
of every tensor. On a GPU one grouped forward pass is the fast way to fit them all. On a CPU the
grouped convolutions cost more per member than a lone net's (issue 19: 1.1-1.6x), so there the
members run in turn (forward and backward, one member's graph in memory at a time) through lone
nets whose tensors are views of the grouped ones: the same parameters, optimiser state and
checkpoints, and each member's arithmetic is a single fit's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
from torch import nn

LAYOUTS = ("grouped", "separate")


def separate_members(grouped: nn.Module, build_lone: Callable[[], nn.Module],
                     members: int) -> list[nn.Module]:
    """One lone net per member whose parameters and buffers are views of its slices of `grouped`.

    The views are made once: the optimiser, the blow-up guard and checkpoint loading all update
    the grouped tensors in place, so the views always see the current values, and autograd sends
    each member's gradients into its slice of the grouped parameters.
    """
    return [_viewing(grouped, build_lone, k, members) for k in range(members)]


def backward_member(lone: nn.Module, loss: torch.Tensor) -> None:
    """Backpropagate one member's loss into its slices of the grouped gradients only (a plain
    backward through the views would add a full-size zero-padded gradient per member)."""
    slices = cast("list[tuple[torch.Tensor, torch.Tensor, int]]", lone.member_slices)
    grads = torch.autograd.grad(loss, [view for view, _, _ in slices], allow_unused=True)
    for (view, param, start), grad in zip(slices, grads, strict=True):
        if param.grad is None:
            param.grad = torch.zeros_like(param)
        if grad is not None:
            param.grad.narrow(0, start, view.shape[0]).copy_(grad)


def _viewing(grouped: nn.Module, build_lone: Callable[[], nn.Module], k: int, members: int) -> nn.Module:
    """A lone net (built without storage) whose parameters and buffers are member k's slices."""
    with torch.device("meta"):
        lone = build_lone()
    lone.train(grouped.training)
    slices: list[tuple[torch.Tensor, torch.Tensor, int]] = []  # (view, grouped parameter, first row)
    lone.member_slices = slices  # type: ignore[assignment]  # torch types Module.__setattr__ for tensors and modules only
    sources: dict[str, torch.Tensor] = dict(grouped.named_parameters())
    sources.update(grouped.named_buffers())
    for module_name, module in lone.named_modules():
        prefix = f"{module_name}." if module_name else ""
        for name, param in list(module._parameters.items()):
            if param is None:
                continue
            view = _member_slice(sources[prefix + name], k, members, param)
            del module._parameters[name]
            setattr(module, name, view)  # a plain attribute: the grouped net owns the parameter
            slices.append((view, sources[prefix + name], k * view.shape[0]))
        for name, buffer in list(module._buffers.items()):
            if buffer is None:
                continue
            source = sources[prefix + name]
            if source.dim() == 0:  # BatchNorm's step counter: member 0 counts on the grouped net's
                module._buffers[name] = source if k == 0 else torch.zeros_like(source)
            else:
                module._buffers[name] = _member_slice(source, k, members, buffer)
    return lone


def _member_slice(source: torch.Tensor, k: int, members: int, like: torch.Tensor) -> torch.Tensor:
    """Member k's part of a grouped tensor: its k-th slice along dimension 0 (nets/build.py)."""
    n = source.shape[0] // members
    view = source.narrow(0, k * n, n)
    if view.shape != like.shape:
        raise ValueError(f"member slice {tuple(view.shape)} does not match the lone net's tensor")
    return view
