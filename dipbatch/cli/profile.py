"""`dipbatch profile install slurm`: copy a site profile of the repository's profiles/ to where
Snakemake looks for `--profile NAME` (the user's config folder), once per user."""

from __future__ import annotations

from pathlib import Path

import click

from dipbatch.cli.errors import fail
from dipbatch.io.atomic import write_bytes_atomic

#: The site profiles that ship with the workflow: profiles/<name>/config.yaml in the repository.
PROFILES = Path(__file__).resolve().parents[2] / "profiles"
#: profiles/default is the workflow profile, which Snakemake applies by itself: never installed.
WORKFLOW_PROFILE = "default"


def user_profiles() -> Path:
    """Snakemake's user config folder (platformdirs, as Snakemake asks it): on Linux
    $XDG_CONFIG_HOME/snakemake, by default ~/.config/snakemake."""
    from platformdirs import AppDirs

    return Path(AppDirs("snakemake", "snakemake").user_config_dir)


@click.group()
def profile() -> None:
    """Snakemake profiles for the workflow (the site part: executor, account, partition)."""


@profile.command()
@click.argument("name", default="slurm")
@click.option("--force", is_flag=True, help="Replace a profile that is already installed.")
def install(name: str, force: bool) -> None:
    """Install the site profile NAME (default: slurm) as the user's Snakemake profile NAME, so that
    `snakemake --profile NAME` finds it. Edit its account and partition afterwards."""
    source = PROFILES / name / "config.yaml"
    if not source.is_file() or name == WORKFLOW_PROFILE:
        known = sorted(p.name for p in PROFILES.glob("*")
                       if (p / "config.yaml").is_file() and p.name != WORKFLOW_PROFILE)
        fail(f"{source}: no such profile (known: {', '.join(known) or 'none'}; profiles/ is in "
             "the repository: install dipbatch from a clone with pip install -e .)")
    target = user_profiles() / name / "config.yaml"
    if target.exists() and not force:
        fail(f"{target}: a profile is already installed there; keep it, or replace it with --force")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(target, source.read_bytes())
    click.echo(f"installed {target}\nedit its PLACEHOLDERS for your site (account, partition), "
               f"then run from the repository: snakemake --profile {name}")
