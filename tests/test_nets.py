"""The generators: the paper's architecture, any image size, several images at once."""

from __future__ import annotations

import pytest
import torch

from dipbatch.fit.loop import Fitter
from dipbatch.fit.presets import get_preset
from dipbatch.fit.problem import Problem
from dipbatch.nets import NetSpec
from dipbatch.nets.build import build_generator, canvas_size, member_state
from dipbatch.nets.pointwise import PointwiseConv


def test_paper_net_has_the_papers_parameter_count() -> None:
    net = build_generator(NetSpec(), 32, 3, [0])
    assert sum(p.numel() for p in net.parameters()) == 2_217_831


def test_deep_decoder_has_fewer_parameters_than_pixels() -> None:
    net = build_generator(NetSpec(kind="deep-decoder"), 128, 3, [0])
    assert 90_000 < sum(p.numel() for p in net.parameters()) < 512 * 512 * 3


@pytest.mark.parametrize("size", [(1, 1), (37, 53), (64, 64)])
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("kind", ["skip", "hourglass", "deep-decoder"])
def test_estimate_has_the_image_size(size: tuple[int, int], channels: int, kind: str) -> None:
    preset = get_preset("denoise", "paper")
    preset = type(preset)("t", NetSpec(kind=kind), preset.fit)
    observation = torch.rand(channels, *size)
    fitter = Fitter([Problem(observation)], preset, [0])
    with torch.no_grad():
        out = fitter._forward(fitter.z)
    assert out.shape == (1, channels, *size)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_canvas_is_a_multiple_of_32_and_at_least_64() -> None:
    assert canvas_size(NetSpec(), 1, 1) == (64, 64)
    assert canvas_size(NetSpec(), 65, 200) == (96, 224)


def test_grouped_net_members_equal_lone_nets() -> None:
    spec = get_preset("denoise", "tiny").net
    lone = [build_generator(spec, 8, 3, [s]) for s in (3, 4)]
    grouped = build_generator(spec, 8, 3, [3, 4])
    for k in range(2):
        state = member_state(grouped, k, 2)
        for name, tensor in lone[k].state_dict().items():
            assert torch.equal(state[name].reshape(tensor.shape), tensor), name
    z = torch.rand(2, 8, 32, 32)
    with torch.no_grad():
        out = grouped(z.reshape(1, 16, 32, 32)).view(2, 3, 32, 32)
        for k in range(2):
            assert torch.allclose(out[k], lone[k](z[k:k + 1])[0], atol=1e-5)


@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_pointwise_conv_matches_the_convolution_and_its_gradients(groups: int, batch: int,
                                                                  bias: bool) -> None:
    torch.manual_seed(0)
    layer = PointwiseConv(6 * groups, 4 * groups, groups, bias=bias)
    x = torch.randn(batch, 6 * groups, 9, 7, requires_grad=True)
    grad_out = torch.randn(batch, 4 * groups, 9, 7)
    fast = layer(x)
    fast.backward(grad_out)
    fast_grads = [x.grad.clone()] + [p.grad.clone() for p in layer.parameters()]
    x.grad = None
    layer.zero_grad()
    reference = torch.nn.functional.conv2d(x, layer.weight, layer.bias, groups=groups)
    reference.backward(grad_out)
    reference_grads = [x.grad] + [p.grad for p in layer.parameters()]
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=1e-5)
    for got, want in zip(fast_grads, reference_grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_pointwise_conv_takes_the_convolution_path_for_channels_last_input() -> None:
    torch.manual_seed(0)
    layer = PointwiseConv(8, 4, 2)
    x = torch.randn(1, 8, 6, 5).contiguous(memory_format=torch.channels_last)
    out = layer(x)
    torch.testing.assert_close(out, torch.nn.functional.conv2d(x, layer.weight, layer.bias, groups=2))
    assert out.is_contiguous(memory_format=torch.channels_last)  # the layout is kept, as cuDNN would
