"""What a test needs from the machine beyond Python (a SLURM cluster, Chromium): a fresh machine
skips such a test, saying what to install; CI (.ci/run sets DIPBATCH_REQUIRE_ALL=1) fails it."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_ALL = "DIPBATCH_REQUIRE_ALL"


def missing(problem: str, remedy: str) -> NoReturn:
    """Skip the test for `problem`, naming the `remedy`; fail it instead under DIPBATCH_REQUIRE_ALL=1."""
    if os.environ.get(REQUIRE_ALL) == "1":
        pytest.fail(f"{problem} ({REQUIRE_ALL}=1 requires it); {remedy}", pytrace=False)
    pytest.skip(f"{problem}; {remedy}")
