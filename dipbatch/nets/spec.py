"""The generator's hyper-parameters, as plain data that presets and sidecars can record."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NetSpec:
    """One generator architecture. Tuples hold one value per scale, from the finest."""

    kind: str = "skip"  # "skip" | "hourglass" | "deep-decoder"
    input_depth: int = 32
    channels_down: tuple[int, ...] = (128,) * 5
    channels_up: tuple[int, ...] = (128,) * 5
    channels_skip: tuple[int, ...] = (4,) * 5
    filter_down: int = 3
    filter_up: int = 3
    filter_skip: int = 1
    upsample: tuple[str, ...] = ("bilinear",) * 5
    downsample: str = "stride"  # "stride" | "avg"
    need1x1_up: bool = True
    decoder_channels: tuple[int, ...] = field(default=(128,) * 6)

    @property
    def scales(self) -> int:
        if self.kind == "deep-decoder":
            return len(self.decoder_channels) - 1
        return len(self.channels_down)

    def smallest_canvas(self) -> int:
        """Smallest output side: the deepest map must be >= 2 px for reflection padding."""
        if self.kind == "deep-decoder":
            return 2 ** self.scales
        return 2 ** (self.scales + 1)
