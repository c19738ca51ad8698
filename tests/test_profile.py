"""`dipbatch profile install`: the site profile lands where `snakemake --profile NAME` looks."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from dipbatch.cli import main

REPO = Path(__file__).resolve().parents[1]


def install(config_home: Path, *args: str):
    return CliRunner().invoke(main, ["profile", "install", *args],
                              env={"XDG_CONFIG_HOME": str(config_home)})


def test_install_copies_the_slurm_profile_and_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "snakemake" / "slurm" / "config.yaml"
    result = install(tmp_path, "slurm")
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == (REPO / "profiles" / "slurm" / "config.yaml").read_bytes()
    target.write_text("slurm_account: mine\n")
    again = install(tmp_path, "slurm")
    assert again.exit_code == 1 and "--force" in again.output
    assert target.read_text() == "slurm_account: mine\n"  # the user's edits survive
    assert install(tmp_path, "slurm", "--force").exit_code == 0
    assert "executor: slurm" in target.read_text()


def test_an_unknown_profile_is_one_error_line(tmp_path):
    result = install(tmp_path, "pbs")
    assert result.exit_code == 1
    assert result.output.startswith("error:") and "known: slurm" in result.output
    assert not (tmp_path / "snakemake").exists()


def test_the_workflow_profile_is_not_a_site_profile(tmp_path):
    """profiles/default is applied by Snakemake itself; installing it as a user profile is refused."""
    result = install(tmp_path, "default")
    assert result.exit_code == 1 and "known: slurm" in result.output
    assert not (tmp_path / "snakemake").exists()
