"""A test that needs SLURM or Chromium skips on a fresh machine, naming what to install, and fails in
CI (DIPBATCH_REQUIRE_ALL=1, set by .ci/run)."""

from __future__ import annotations

import pytest
from needs import REQUIRE_ALL, missing


def test_a_missing_tool_skips_with_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_ALL, raising=False)
    with pytest.raises(pytest.skip.Exception, match="Chromium is not installed; apt-get install chromium"):
        missing("Chromium is not installed", "apt-get install chromium")


def test_a_missing_tool_fails_when_ci_requires_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_ALL, "1")
    with pytest.raises(pytest.fail.Exception, match=r"no SLURM test cluster .*start_cluster\.sh"):
        missing("no SLURM test cluster", "sudo bash tests/slurm/start_cluster.sh")

