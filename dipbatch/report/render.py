"""Render the report's jinja2 template and write the HTML atomically."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
import yaml

from dipbatch import __version__
from dipbatch.io.atomic import write_bytes_atomic


def _missing(value: Any) -> bool:
    """True for a field the sidecar does not have (older dipbatch, failed image)."""
    return value is None or isinstance(value, jinja2.Undefined) or value == ""


def number(value: Any, digits: int = 4) -> str:
    """A float with `digits` significant digits; '' for a missing value, '∞' for infinity."""
    if _missing(value):
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        return f"{value:.{digits}g}"
    return str(value)


def sort_value(value: Any) -> str:
    """The `data-sort` attribute of a cell: a number JavaScript's Number() parses, or ''."""
    if _missing(value) or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value) if isinstance(value, float) else str(value)


def duration(seconds: Any) -> str:
    """Seconds as '12.3 s', '4 min 05 s' or '2 h 03 min'."""
    if not isinstance(seconds, (int, float)) or math.isnan(seconds):
        return ""
    if seconds < 60:
        return f"{seconds:.3g} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("dipbatch", "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(number=number, sort_value=sort_value, duration=duration,
                       yaml=lambda v: yaml.safe_dump(v, sort_keys=False, allow_unicode=True))
    return env


def render_report(output: Path, **context: Any) -> None:
    html = _environment().get_template("quality_report.html").render(
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        report_version=__version__, **context)
    write_bytes_atomic(output, html.encode("utf-8"))
