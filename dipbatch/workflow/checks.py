"""The workflow's checks of a configuration before any job: the schema, what each dataset's settings
allow together, its folders, and that no folder it reads overlaps the results or the logs. Each
refusal is a DipbatchError naming the configuration key; the Snakefile turns it into one line."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from dipbatch.errors import DipbatchError, FieldError
from dipbatch.fit.ensemble import check_ensemble
from dipbatch.io.discovery import is_inside
from dipbatch.tasks import TASK_TABLE, task_record
from dipbatch.workflow.config import check_folders, validate_schema

#: The tasks whose images can share one job: no side file (mask, flash photo) per image.
PACKABLE_TASKS = tuple(name for name, task in TASK_TABLE.items() if task.packable)
#: Checks a dataset's `options:` as `dipbatch restore` parses them (dipbatch.cli.checks, passed in
#: by the Snakefile: the workflow's package never imports the CLI).
OptionsCheck = Callable[[str, Mapping[str, Any], str], None]


def validate_config(config: dict[str, Any], check_options: OptionsCheck) -> None:
    """Validate against the schema (filling in its defaults), then every dataset's settings together,
    its folders and `options:`; a bad value is a DipbatchError naming its key."""
    if str(config.get("strict")).lower() in ("true", "false"):  # `--config strict=true` is a string
        config["strict"] = str(config["strict"]).lower() == "true"
    validate_schema(config)
    for name, dataset in config["datasets"].items():
        check_dataset(name, dataset)
        check_folders(name, dataset)
        refuse_overlaps(name, dataset, config)
        if dataset["options"]:
            check_options(name, dataset, config["device"])


def check_dataset(name: str, dataset: Mapping[str, Any]) -> None:
    """What a dataset's settings allow together: packing, an ensemble with warm starts."""
    if dataset["batch"] > 1 and (dataset["kind"] != "images" or dataset["task"] not in PACKABLE_TASKS):
        unpacked = ", ".join(name for name in TASK_TABLE if name not in PACKABLE_TASKS)
        raise DipbatchError(f"datasets.{name}.batch", f"packing is for kind: images with task "
                                                      f"{', '.join(PACKABLE_TASKS)} ({unpacked} need a side "
                                                      "file per image); set batch: 1")
    wants_psf = "psf" in task_record(dataset["task"]).options
    if wants_psf != ("psf" in dataset):
        raise DipbatchError(f"datasets.{name}.psf", "task deblur needs a psf: (a model such as "
                            "gaussian:fwhm=3.2, a file, or a {stem} file name beside each image)"
                            if wants_psf else f"is for task deblur, not {dataset['task']}")
    warm = dataset["kind"] == "sequence" and dataset.get("warm_start", True)
    try:
        check_ensemble(None if dataset["ensemble"] == "auto" else dataset["ensemble"], warm_start=warm)
    except FieldError:
        raise DipbatchError(f"datasets.{name}.ensemble", "an ensemble does not combine with warm starts "
                                                         "(every member would start from one net); set "
                                                         "warm_start: false") from None


def overlap(folder: str, other: str) -> str | None:
    """How two folders overlap, after following links: 'is', 'is inside', 'holds', or None."""
    folder, other = os.path.realpath(folder), os.path.realpath(other)
    if folder == other:
        return "is"
    if is_inside(folder, other):
        return "is inside"
    return "holds" if is_inside(other, folder) else None


def refuse_overlaps(name: str, dataset: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    """Inputs are untouchable: no folder a dataset reads may share a file with the results or logs.

    Snakemake deletes a job's outputs before it runs it, so an output that is also an input (an
    output folder at or inside the input folder, or the reverse) would delete the originals.
    """
    for key in (k for k in ("input", "mask_dir", "reference") if k in dataset):
        for where in ("output", "logs"):
            relation = overlap(dataset[key], config[where])
            if relation:
                raise DipbatchError(f"datasets.{name}.{key}",
                                    f"{dataset[key]!r} {relation} the {where} folder {config[where]!r}; the "
                                    "workflow writes there and would overwrite or delete the originals: "
                                    "keep the two folders apart")


def dataset_problems(name: str, dataset: Mapping[str, Any], images: list[str],
                     refused: Mapping[str, str]) -> list[str]:
    """The workflow's warnings about one dataset (errors under strict: true): the files it refused,
    and no images at all."""
    problems = [f"datasets.{name}: refused {error.removeprefix('error: ')}" for error in refused.values()]
    if not images and not refused:
        problems.append(f"datasets.{name}: no images: {dataset['input']!r} holds no file matching "
                        f"{', '.join(dataset['patterns'])}; its summary and report stay empty")
    return problems
