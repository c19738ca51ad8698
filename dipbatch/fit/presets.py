"""Presets as data: each task's recipes, printable and recorded verbatim in the sidecar."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from dipbatch.errors import FieldError
from dipbatch.nets import NetSpec


@dataclass(frozen=True)
class FitSpec:
    """The optimisation recipe."""

    iterations: int = 3000
    lr: float = 0.01
    reg_noise_std: float = 1.0 / 30.0
    ema: float | None = 0.99  # weight of the output's exponential moving average; None: no EMA
    input: str = "noise"  # "noise" | "meshgrid" | "guide"
    input_scale: float = 0.1  # z ~ U(0,1) × input_scale


@dataclass(frozen=True)
class Preset:
    name: str
    net: NetSpec = field(default_factory=NetSpec)
    fit: FitSpec = field(default_factory=FitSpec)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_FAST_NET = NetSpec(channels_down=(32,) * 5, channels_up=(32,) * 5, channels_skip=(4,) * 5,
                    input_depth=16)
_TINY_NET = NetSpec(channels_down=(16,) * 3, channels_up=(16,) * 3, channels_skip=(4,) * 3,
                    upsample=("bilinear",) * 3, input_depth=8)
_NEAREST5 = ("nearest",) * 5

# The notebooks' networks (dip_reference.md §1): inpainting "kate", JPEG "snail", flash/no-flash.
_KATE_NET = NetSpec(channels_skip=(128,) * 5, upsample=_NEAREST5)
_SNAIL_NET = NetSpec(input_depth=3, channels_down=(8, 16, 32, 64, 128), channels_up=(8, 16, 32, 64, 128),
                     channels_skip=(0, 0, 0, 4, 4))
_FLASH_UPSAMPLE = ("nearest", "nearest", "bilinear", "bilinear", "bilinear")
_FLASH_NET = NetSpec(input_depth=3, upsample=_FLASH_UPSAMPLE)
_SR_FIT = FitSpec(iterations=2000, reg_noise_std=0.03, ema=None)
_INPAINT_FIT = FitSpec(iterations=6001, reg_noise_std=0.03, ema=None)
_FLASH_FIT = FitSpec(iterations=601, lr=0.1, reg_noise_std=0.0, ema=None, input="guide")

PRESET_NAMES = ("paper", "fast", "tiny")  # every task has each, the largest net first
PRESET_CHOICES = ("auto", *PRESET_NAMES)  # --preset and the workflow's preset: auto picks per device
# `auto`'s preset per device kind, chosen from the quality-per-second frontier (docs/stopping.md,
# benchmarks/frontier.py): on a CPU `fast` reaches `paper`'s PSNR at a seventh of its step cost; on
# a GPU a step of either costs about the same for one image, and `paper` stops sooner.
DEVICE_PRESETS = {"cpu": "fast", "cuda": "paper"}

# PRESETS[task][name]. The `paper` presets are the notebooks' recipes (shared/notes/dip_reference.md §1).
PRESETS: dict[str, dict[str, Preset]] = {
    "denoise": {
        "paper": Preset("paper", NetSpec(), FitSpec(iterations=3000)),
        "fast": Preset("fast", _FAST_NET, FitSpec(iterations=3000)),  # a cap: auto stops at ~1700
        "tiny": Preset("tiny", _TINY_NET, FitSpec(iterations=300)),
    },
    "sr": {  # x4 (zebra); x8 and x2 in FACTOR_FITS
        "paper": Preset("paper", NetSpec(), _SR_FIT),
        "fast": Preset("fast", _FAST_NET, replace(_SR_FIT, iterations=1000)),
        "tiny": Preset("tiny", _TINY_NET, replace(_SR_FIT, iterations=300)),
    },
    "inpaint": {  # kate (text over a photo); the hourglass vase recipe is in NET_VARIANTS
        "paper": Preset("paper", _KATE_NET, _INPAINT_FIT),
        "fast": Preset("fast", replace(_FAST_NET, channels_skip=(16,) * 5, upsample=_NEAREST5),
                       replace(_INPAINT_FIT, iterations=1500)),
        "tiny": Preset("tiny", replace(_TINY_NET, upsample=("nearest",) * 3),
                       replace(_INPAINT_FIT, iterations=300)),
    },
    "deblock": {  # snail: blind JPEG artefact removal
        "paper": Preset("paper", _SNAIL_NET, FitSpec(iterations=2400)),
        "fast": Preset("fast", _SNAIL_NET, FitSpec(iterations=1200)),
        "tiny": Preset("tiny", _TINY_NET, FitSpec(iterations=300)),
    },
    "flash": {  # cave: the flash image is the generator's input
        "paper": Preset("paper", _FLASH_NET, _FLASH_FIT),
        "fast": Preset("fast", replace(_FAST_NET, upsample=_FLASH_UPSAMPLE),
                       replace(_FLASH_FIT, iterations=300)),
        "tiny": Preset("tiny", replace(_TINY_NET, upsample=_FLASH_UPSAMPLE[-3:]),
                       replace(_FLASH_FIT, iterations=150)),
    },
    "deblur": {  # denoising's nets; the fit reaches the noise floor later through a blur
        "paper": Preset("paper", NetSpec(), FitSpec(iterations=4000)),
        "fast": Preset("fast", _FAST_NET, FitSpec(iterations=3000)),
        "tiny": Preset("tiny", _TINY_NET, FitSpec(iterations=400)),
    },
}

NETS = ("skip", "hourglass", "deep-decoder")

# The super-resolution fit per factor. The paper gives x4 and x8; x2 (not in the paper) uses x4's.
FACTOR_FITS: dict[tuple[str, str, int], FitSpec] = {
    ("sr", "paper", 2): _SR_FIT,
    ("sr", "paper", 8): replace(_SR_FIT, iterations=4000, reg_noise_std=0.05),
}

# Deep Decoder widths k per preset: six blocks of k channels (k=128: about 100k parameters).
DECODER_NETS = {name: NetSpec(kind="deep-decoder", decoder_channels=(k,) * 6)
                for name, k in (("paper", 128), ("fast", 64), ("tiny", 32))}

# Recipes that a task's paper notebook gives for another net (the rest are derived in with_net).
_VASE_FIT = replace(_INPAINT_FIT, iterations=5001, input="meshgrid")
NET_VARIANTS: dict[tuple[str, str, str], Preset] = {
    ("inpaint", "paper", "hourglass"): Preset(  # vase: meshgrid input, no skip connections
        "paper", replace(_KATE_NET, kind="hourglass", channels_skip=(0,) * 5), _VASE_FIT),
    ("inpaint", "fast", "hourglass"): Preset(
        "fast", replace(PRESETS["inpaint"]["fast"].net, kind="hourglass"),
        replace(_VASE_FIT, iterations=1500)),
    ("inpaint", "tiny", "hourglass"): Preset(
        "tiny", replace(PRESETS["inpaint"]["tiny"].net, kind="hourglass"),
        replace(_VASE_FIT, iterations=300)),
    ("denoise", "paper", "deep-decoder"): Preset(  # Heckel & Hand's denoising default
        "paper", DECODER_NETS["paper"], FitSpec(iterations=1900, reg_noise_std=0.0, ema=None)),
}


def with_net(preset: Preset, task: str, kind: str | None) -> Preset:
    """The preset with its generator swapped for `kind` (None: keep the preset's own)."""
    if kind is None or kind == preset.net.kind:
        return preset
    if kind not in NETS:
        raise FieldError(f"`net` {kind}", f"unknown net; choose one of {', '.join(NETS)}")
    variant = NET_VARIANTS.get((task, preset.name, kind))
    if variant is not None:
        return variant
    if kind == "deep-decoder":  # its input is low-resolution noise, without the regularising jitter
        return replace(preset, net=DECODER_NETS[preset.name],
                       fit=replace(preset.fit, reg_noise_std=0.0, input="noise"))
    return replace(preset, net=replace(preset.net, kind=kind))


def preset_for_device(name: str, device: str) -> str:
    """The preset `name` means on a device kind ("cpu", "cuda"): `auto` is DEVICE_PRESETS'."""
    return DEVICE_PRESETS.get(device, DEVICE_PRESETS["cpu"]) if name == "auto" else name


def get_preset(task: str, name: str, *, net: str | None = None, factor: int | None = None,
               **fit_overrides: Any) -> Preset:
    """The preset `name` of `task` for a net and SR factor, with FitSpec fields overridden (None: keep)."""
    try:
        preset = PRESETS[task][name]
    except KeyError:
        raise FieldError(f"`preset` {name}", f"no such preset for task '{task}'") from None
    factor_fit = FACTOR_FITS.get((task, name, factor or 0))
    if factor_fit is not None:
        preset = replace(preset, fit=factor_fit)
    preset = with_net(preset, task, net)
    overrides = {k: v for k, v in fit_overrides.items() if v is not None}
    return replace(preset, fit=replace(preset.fit, **overrides)) if overrides else preset
