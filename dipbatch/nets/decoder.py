"""The Deep Decoder (Heckel & Hand, ICLR 2019): 1×1 convolutions, bilinear upsampling, ReLU, BatchNorm."""

from __future__ import annotations

from torch import nn

from dipbatch.nets.pointwise import PointwiseConv
from dipbatch.nets.skip import Upsample
from dipbatch.nets.spec import NetSpec


class DeepDecoder(nn.Sequential):
    """decodernw of the official code; its input is k channels at 1/2**(blocks-1) of the output size."""

    def __init__(self, spec: NetSpec, out_channels: int, members: int = 1) -> None:
        widths = spec.decoder_channels
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip(widths, (*widths[1:], widths[-1]), strict=True)):
            layers.append(PointwiseConv(cin * members, cout * members, members, bias=False))
            if i < len(widths) - 1:
                layers.append(Upsample("bilinear"))
            layers += [nn.ReLU(), nn.BatchNorm2d(cout * members)]
        layers += [PointwiseConv(widths[-1] * members, out_channels * members, members),
                   nn.Sigmoid()]
        super().__init__(*layers)
