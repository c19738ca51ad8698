"""The README's commands work as written: the quick start's demo and the cluster section's commands
in their dry-run form, its test command is the one CI runs, and every page it links exists."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def section(name: str) -> str:
    text = README.read_text()
    return text[text.index(f"<!-- section:{name} -->"):text.index(f"<!-- /section:{name} -->")]


def commands(name: str) -> list[str]:
    """The lines of a section's bash blocks, without comments."""
    blocks = re.findall(r"```bash\n(.*?)```", section(name), flags=re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines() if line.strip()]
    return [part.strip() for line in lines for part in line.split("&&")]


def readme_test_command() -> str:
    """The README's test command: the quick start's pytest line."""
    return next(c for c in commands("quickstart") if c.startswith("pytest"))


def ci_script() -> str:
    return (REPO / ".ci" / "run").read_text()


def dry_run(command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    args = shlex.split(command)
    assert args[0] == "snakemake"
    if "-n" not in args:
        args.append("-n")
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=env)


def run_dipbatch(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from dipbatch.cli import main; main()",
                           *shlex.split(command)[1:]], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=env)


def test_the_readme_is_a_landing_page_with_working_links() -> None:
    assert len(README.read_bytes()) <= 10_500
    for page in (README, REPO / "docs" / "README.md"):
        for target in re.findall(r"\]\(([^)#]+)", page.read_text()):
            if not target.startswith("http"):
                assert (page.parent / target).exists(), f"{page.name} links to a missing {target}"


def test_ci_runs_exactly_the_readme_test_command_and_requires_everything() -> None:
    lines = ci_script().strip().splitlines()
    assert lines[-1] == readme_test_command() == "pytest -n auto"
    assert "export DIPBATCH_REQUIRE_ALL=1" in lines


@pytest.mark.slow
@pytest.mark.parametrize("name", ["quickstart", "cluster"])
def test_the_workflow_commands_of_a_section_dry_run(name: str, tmp_path: Path) -> None:
    """In order, as a user types them: `dipbatch profile` lines run (into a fresh config folder),
    `dipbatch plan` lines run on the repository's config.yaml, `snakemake` lines dry-run; `pip` lines
    are the environment this test runs in (the quick start's `dipbatch restore` lines are checked
    below)."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    runs = [c for c in commands(name) if c.startswith(("snakemake", "dipbatch profile", "dipbatch plan"))]
    assert any(c.startswith("snakemake") for c in runs), f"no snakemake command in the {name} section"
    for command in runs:
        if command.startswith("dipbatch"):
            done = run_dipbatch(command, env)
            assert done.returncode == 0, f"{command}:\n{done.stderr[-2000:]}"
            continue
        done = dry_run(command, env)
        assert done.returncode == 0, f"{command}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        assert "restore" in done.stdout + done.stderr


def test_the_quick_start_names_only_commands_that_exist() -> None:
    for command in commands("quickstart"):
        if command.startswith("dipbatch"):
            sub = shlex.split(command)[1]
            done = subprocess.run([sys.executable, "-c", "from dipbatch.cli import main; main()", sub,
                                   "--help"], capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, command
