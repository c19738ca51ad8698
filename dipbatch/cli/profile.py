"""`dipbatch profile install slurm`: copy a site profile that ships with dipbatch (package data, also
the repository's profiles/<name>/config.yaml) to where Snakemake looks for `--profile NAME` (the
user's config folder), once per user."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from dipbatch.cli.errors import fail
from dipbatch.io.atomic import write_bytes_atomic

#: The site profiles that ship with dipbatch, by name: their files in dipbatch/data (the repository's
#: profiles/<name>/config.yaml link to them). profiles/default, the workflow profile, is not one:
#: Snakemake applies it by itself.
SITE_PROFILES = {"slurm": "slurm_profile.yaml"}


def user_profiles() -> Path:
    """Snakemake's user config folder (platformdirs, as Snakemake asks it): on Linux
    $XDG_CONFIG_HOME/snakemake, by default ~/.config/snakemake."""
    from platformdirs import AppDirs

    return Path(AppDirs("snakemake", "snakemake").user_config_dir)


#: What the shipped site profiles hold until a user sets their site's values.
PLACEHOLDERS = ("your_account",)


def placeholder_notes() -> list[str]:
    """One line per installed site profile that still holds a placeholder (for `dipbatch plan`)."""
    notes = []
    for name in SITE_PROFILES:
        installed = user_profiles() / name / "config.yaml"
        try:
            text = installed.read_text(encoding="utf-8")
        except OSError:
            continue
        for line in text.splitlines():
            if any(p in line.split("#")[0] for p in PLACEHOLDERS):
                notes.append(f"{installed} still holds the placeholder `{line.split('#')[0].strip()}`: set "
                             f"your site's value (or delete the line) before snakemake --profile {name}")
    return notes


@click.group(short_help="Install the Snakemake site profile (slurm).")
def profile() -> None:
    """Snakemake profiles for the workflow (the site part: executor, account, partition)."""


@profile.command()
@click.argument("name", default="slurm")
@click.option("--force", is_flag=True, help="Replace a profile that is already installed.")
def install(name: str, force: bool) -> None:
    """Install the site profile NAME (default: slurm; the profiles: slurm) as the user's Snakemake
    profile NAME, so that `snakemake --profile NAME` finds it. Edit its account and partition
    afterwards; `dipbatch plan` says while a placeholder is left."""
    if name not in SITE_PROFILES:
        fail(f"{name}: no such profile (known: {', '.join(sorted(SITE_PROFILES))})")
    source = resources.files("dipbatch.data").joinpath(SITE_PROFILES[name])
    target = user_profiles() / name / "config.yaml"
    if target.exists() and not force:
        fail(f"{target}: a profile is already installed there; keep it, or replace it with --force")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(target, source.read_bytes())
    click.echo(f"installed {target}\nedit its PLACEHOLDERS for your site (account, partition), "
               f"then run from the repository: snakemake --profile {name}")
