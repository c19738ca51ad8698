"""Outputs written after a failed run (summaries, reports, the index, temporal tables): dated so that
their rule rebuilds them on the next run.

Snakemake rebuilds an output that is older than one of its inputs. A provisional output is dated one
second before its newest input: a real time within the run, so ZIP archives (`snakemake --report
x.zip`), `ls -lt`, rsync and backups treat it as the ordinary file it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable


def date_before_inputs(target: str, inputs: Iterable[str]) -> None:
    """Give `target` the time of its newest existing input less one second (none: left as it is,
    for its rule runs anyway once an input is made)."""
    times = [os.stat(path).st_mtime for path in inputs if os.path.exists(path)]
    if times:
        os.utime(target, (max(times) - 1, max(times) - 1))
