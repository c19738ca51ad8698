"""The `dipbatch restore` options of a dataset's jobs, as the workflow writes them on the command line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The `dipbatch restore` options the workflow sets itself, and where a configuration sets them.
WORKFLOW_OPTIONS: dict[str, str | None] = {
    "output": "output", "overwrite": None, "threads": "threads", "device": "device",
    "task": "datasets.<name>.task", "preset": "datasets.<name>.preset",
    "iterations": "datasets.<name>.iterations", "seed": "datasets.<name>.seed",
    "ensemble": "datasets.<name>.ensemble",
    "mask": "datasets.<name>.mask or mask_dir", "psf": "datasets.<name>.psf",
    "init_weights": "datasets.<name>.warm_start",
    "save_weights": "datasets.<name>.warm_start", "outcomes": None,
}


def option_key(name: str, option: str) -> str:
    """Where a configuration sets a `dipbatch restore` option (`stop`, `task`): its options: key, or
    the dataset's or the run's own key for the options the workflow sets itself."""
    home = WORKFLOW_OPTIONS.get(option.replace("-", "_"), f"datasets.<name>.options.{option}")
    return (home or option).replace("<name>", name)


def dataset_args(dataset: Mapping[str, Any], device: str) -> list[str]:
    """A (validated) dataset's options for `dipbatch restore`, all but the mask, a PSF beside each
    image and the files (a dataset-wide PSF, a model or one file, is among them)."""
    args = ["--task", dataset["task"], "--preset", dataset["preset"]]
    args += ["--seed", str(dataset["seed"]), "--device", device]
    if "iterations" in dataset:
        args += ["--iterations", str(dataset["iterations"])]
    if "psf" in dataset and "{stem}" not in dataset["psf"]:
        args += ["--psf", dataset["psf"]]
    if dataset["ensemble"] != "auto":
        args += ["--ensemble", str(dataset["ensemble"])]
    for key, value in dataset["options"].items():
        flag = f"--{key.replace('_', '-')}"
        if value is True:
            args.append(flag)
        elif value is not False:
            args += [flag, str(value)]
    return args
