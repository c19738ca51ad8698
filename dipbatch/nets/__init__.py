"""Generators: the DIP skip net (and its hourglass form) and the Deep Decoder.

Every generator is built for `members` independent images at once: each layer holds `members`
copies side by side along the channel axis (grouped convolutions), so one forward pass fits
several images, and member k's parameters are the k-th slice along dimension 0 of every tensor.

`NetSpec` (plain data, no torch: presets and sidecars record it) is this package's face;
`dipbatch.nets.build` builds the torch modules.
"""

from __future__ import annotations

from dipbatch.nets.spec import NetSpec

__all__ = ["NetSpec"]
