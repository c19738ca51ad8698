"""The DIP skip encoder-decoder (models/skip.py of the original code), for several images at once."""

from __future__ import annotations

import torch
from torch import nn

from dipbatch.nets.pointwise import PointwiseConv
from dipbatch.nets.spec import NetSpec


def conv(cin: int, cout: int, kernel: int, members: int, stride: int = 1,
         downsample: str = "stride") -> nn.Sequential:
    """Reflection-padded convolution, `members` independent copies side by side."""
    if kernel == 1 and stride == 1:
        return nn.Sequential(PointwiseConv(cin * members, cout * members, members))
    layers: list[nn.Module] = []
    pad = (kernel - 1) // 2
    if pad:
        layers.append(nn.ReflectionPad2d(pad))
    conv_stride = stride if downsample == "stride" else 1
    layers.append(nn.Conv2d(cin * members, cout * members, kernel, conv_stride, groups=members))
    if stride != 1 and downsample == "avg":
        layers.append(nn.AvgPool2d(2, 2))
    return nn.Sequential(*layers)


def bn_act(channels: int, members: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels * members), nn.LeakyReLU(0.2, inplace=True)]


class GroupedConcat(nn.Module):
    """Concatenate branches per member, centre-cropping them to a common size (the original's Concat)."""

    def __init__(self, members: int, *branches: nn.Module) -> None:
        super().__init__()
        self.members = members
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [branch(x) for branch in self.branches]
        h = min(o.shape[2] for o in outs)
        w = min(o.shape[3] for o in outs)
        parts = []
        for o in outs:
            dh, dw = (o.shape[2] - h) // 2, (o.shape[3] - w) // 2
            o = o[:, :, dh:dh + h, dw:dw + w]
            parts.append(o.reshape(o.shape[0], self.members, -1, h, w))
        n = x.shape[0]
        return torch.cat(parts, dim=2).reshape(n, -1, h, w)


class Upsample(nn.Module):
    """×2 upsampling; bilinear uses align_corners=False (the PyTorch >= 0.4 behaviour)."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "nearest":
            return nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        return nn.functional.interpolate(x, scale_factor=2, mode=self.mode, align_corners=False)


class SkipNet(nn.Sequential):
    """skip(...) of the original code; `hourglass` is the same net with no skip channels."""

    def __init__(self, spec: NetSpec, in_channels: int, out_channels: int, members: int = 1):
        skips = (0,) * spec.scales if spec.kind == "hourglass" else spec.channels_skip
        body = self._level(spec, skips, 0, in_channels, members)
        super().__init__(
            body,
            PointwiseConv(spec.channels_up[0] * members, out_channels * members, members),
            nn.Sigmoid(),
        )

    def _level(self, spec: NetSpec, skips: tuple[int, ...], i: int, cin: int,
               members: int) -> nn.Sequential:
        down, up = spec.channels_down[i], spec.channels_up[i]
        last = i == spec.scales - 1
        deeper: list[nn.Module] = [
            conv(cin, down, spec.filter_down, members, 2, spec.downsample), *bn_act(down, members),
            conv(down, down, spec.filter_down, members), *bn_act(down, members),
        ]
        if not last:
            deeper.append(self._level(spec, skips, i + 1, down, members))
        deeper.append(Upsample(spec.upsample[i]))
        k = down if last else spec.channels_up[i + 1]
        layers: list[nn.Module]
        if skips[i]:
            skip = nn.Sequential(conv(cin, skips[i], spec.filter_skip, members),
                                 *bn_act(skips[i], members))
            layers = [GroupedConcat(members, skip, nn.Sequential(*deeper))]
        else:
            layers = [nn.Sequential(*deeper)]
        layers += [
            nn.BatchNorm2d((skips[i] + k) * members),
            conv(skips[i] + k, up, spec.filter_up, members), *bn_act(up, members),
        ]
        if spec.need1x1_up:
            layers += [conv(up, up, 1, members), *bn_act(up, members)]
        return nn.Sequential(*layers)
