"""The doubts about a restored image that its record shows: what the CLI prints as `warning:` lines
and the workflow's summary and report list beside the image."""

from __future__ import annotations

from typing import Any

from dipbatch.fit.signals import CAP, FAR_ABOVE_FLOOR
from dipbatch.io.sidecar import Sidecar, stop_kind


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def result_warnings(record: Sidecar | dict[str, Any]) -> list[str]:
    """The doubts about one restored image, from its record: it ran to the cap (the stop rule never
    fired), its data-fit ended far above the noise floor (the fit never reached the noise: the
    result is not the image), the blow-up guard rolled back, the fit and its classical partner
    disagree far more than the noise explains, or the output is noisier than the input."""
    warnings = []
    if stop_kind(record) == CAP:
        warnings.append(f"ran to the cap ({record.get('stop_iteration')} iterations): no stop fired")
    ratio = _number(record.get("datafit_ratio"))
    if ratio is not None and ratio > FAR_ABOVE_FLOOR:
        warnings.append(f"the data-fit ended at {ratio:.3g}× the noise floor: the fit never reached the "
                        "noise (try a larger preset, or the noise model the data have)")
    restores = _number(record.get("guard_restores")) or 0
    if restores:
        warnings.append(f"guard restored the weights {int(restores)} times")
    fusion = record.get("fusion") or {}
    if fusion.get("disagrees"):
        apart = fusion.get("disagreement", 0)
        warnings.append(f"the fit and {fusion.get('method')} disagree by {apart:.2f} σ (RMS), far more "
                        "than the noise explains: check this image")
    before, after = _number(record.get("sigma_input")), _number(record.get("sigma_output"))
    if before is not None and after is not None and after > before:
        warnings.append(f"output sigma {after:.3g} above the input's {before:.3g}")
    return warnings
