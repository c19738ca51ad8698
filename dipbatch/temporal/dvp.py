"""Deep Video Prior (Lei, Xing, Chen, NeurIPS 2020): one small net per sequence removes flicker.

The net learns to map each input frame I_t to its per-frame result P_t, one frame per step, frames
in order, with an L1 loss. What the per-frame results share across frames is learned first; what
flickers (details each frame's fit chose on its own) is not, because the same net cannot map
similar inputs to disagreeing outputs until it starts to overfit. So it is stopped early, after a
fixed number of epochs, as the paper does, and its predictions are the consistent frames.

The net is the DIP skip encoder-decoder (a U-Net with a 1×1 skip at every scale), built with
random weights from a seed: no downloaded weights (the paper's VGG perceptual loss is left out).

With `irt`, the paper's iteratively reweighted training for multimodal inconsistency: two heads,
each pixel's loss goes to the head closer to the target there (relative to the input's brightness),
and the main head is the result. As in the paper it first runs IRT_INIT_EPOCHS epochs' worth of
steps on the first frame alone, both heads on every pixel (the minor one weighted less), so that the
main head is ahead when the pixels are shared out: with a few steps only, the minor head won most
pixels and the main head stayed untrained (−10 to −19 dB on the benchmark of issue 18).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dipbatch.fit.loop import pad_to
from dipbatch.nets import NetSpec
from dipbatch.nets.build import build_generator, canvas_size

EpochHook = Callable[[int, int, float], None]


@dataclass(frozen=True)
class DVPOptions:
    """The DVP recipe. The paper runs Adam at lr 1e-4 for 25 epochs over videos of hundreds of
    frames; a short sequence gets few steps per epoch, so the step size is larger and, unless
    `epochs` is given, the epochs are enough for about STEPS steps (and at least MIN_EPOCHS)."""

    epochs: int | None = None
    lr: float = 3e-3
    features: int = 16  # channels at the finest scale; doubled at each of the coarser two
    seed: int = 2020
    irt: bool = False  # iteratively reweighted training (two heads), for multimodal inconsistency

    STEPS = 120
    MIN_EPOCHS = 5
    IRT_INIT_EPOCHS = 5  # the paper's: epochs' worth of steps on the first frame before IRT
    IRT_MINOR_WEIGHT = 0.9  # of the minor head's loss during the IRT start

    def epochs_for(self, frames: int) -> int:
        return self.epochs or max(self.MIN_EPOCHS, math.ceil(self.STEPS / max(frames, 1)))

    def net_spec(self) -> NetSpec:
        widths = (self.features, 2 * self.features, 4 * self.features)
        return NetSpec(channels_down=widths, channels_up=widths, channels_skip=(self.features,) * 3,
                       upsample=("bilinear",) * 3)


def _as_input(frame: np.ndarray, size: tuple[int, int], canvas: tuple[int, int]) -> torch.Tensor:
    """An input frame as a 1×C×H×W tensor on the net's canvas, resized to the results' size first."""
    x = torch.from_numpy(np.nan_to_num(np.asarray(frame, np.float32)))
    if tuple(x.shape[-2:]) != size:
        x = torch.nn.functional.interpolate(x[None], size=size, mode="bilinear", align_corners=False)[0]
    return pad_to(x, canvas)[None]


def _irt_loss(out: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L1 of the main head where it is the closer one (relative to the input's brightness), else of the
    minor head."""
    main, minor = out.chunk(2, dim=1)
    scale = x.mean(dim=1, keepdim=True) + 0.1
    closer = ((main - y).abs().amax(1, keepdim=True) / scale
              < (minor - y).abs().amax(1, keepdim=True) / scale).float().detach()
    return ((main - y).abs() * closer).mean() + ((minor - y).abs() * (1 - closer)).mean()


def deep_video_prior(inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray],
                     options: DVPOptions = DVPOptions(), device: torch.device | str = "cpu",
                     progress: EpochHook | None = None) -> list[np.ndarray]:
    """The consistent frames (C×H×W float32 in [0,1]) for input frames and their per-frame results."""
    device = torch.device(device)
    channels_in = int(np.asarray(inputs[0]).shape[0])
    channels_out, height, width = np.asarray(targets[0]).shape
    spec = options.net_spec()
    canvas = canvas_size(spec, height, width)
    top, left = (canvas[0] - height) // 2, (canvas[1] - width) // 2
    heads = 2 if options.irt else 1
    net = build_generator(spec, channels_in, heads * channels_out, [options.seed]).to(device)
    net.train()  # one frame per step: BatchNorm normalises each frame by its own statistics
    # The frames stay in host memory and go to the device one step at a time: a long video's frames
    # need not fit beside the net.
    xs = [_as_input(f, (height, width), canvas) for f in inputs]
    ys = [torch.from_numpy(np.nan_to_num(np.asarray(f, np.float32)))[None] for f in targets]
    opt = torch.optim.Adam(net.parameters(), lr=options.lr)

    def predict(x: torch.Tensor) -> torch.Tensor:
        return net(x)[:, :, top:top + height, left:left + width]

    def step(loss: torch.Tensor) -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    if options.irt:
        x0, y0 = xs[0].to(device), ys[0].to(device)
        for _ in range(options.IRT_INIT_EPOCHS * len(xs)):
            main, minor = predict(x0).chunk(2, dim=1)
            step((main - y0).abs().mean() + options.IRT_MINOR_WEIGHT * (minor - y0).abs().mean())
    epochs = options.epochs_for(len(xs))
    for epoch in range(1, epochs + 1):
        total = torch.zeros((), device=device)
        for x, y in zip(xs, ys, strict=True):
            x, y = x.to(device), y.to(device)
            out = predict(x)
            total += step(_irt_loss(out, x, y) if options.irt else (out - y).abs().mean())
        if progress:
            progress(epoch, epochs, float(total) / len(xs))
    with torch.no_grad():
        return [predict(x.to(device))[0, :channels_out].float().cpu().numpy() for x in xs]
