"""The workflow configuration as a run sees it: config.yaml, then the command line's --configfile
files, whose `datasets` replace the demo's instead of adding to them.

Snakemake merges nested dicts, so `snakemake --configfile mine.yaml` alone would restore the
datasets of config.yaml *and* those of mine.yaml. A config file given on the command line that
names `datasets` is a different archive, not more of the same: its datasets (merged over the other
command-line files and `--config`) are the run's, and the workflow's config.yaml keeps only its
other keys (output, logs, device, resources...).
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Iterable, Mapping, MutableMapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from dipbatch.errors import DipbatchError, short
from dipbatch.run.ensembles import DEVICE_ENSEMBLES, default_ensemble

#: The workflow's own config file, read from the working directory (workflow/Snakefile: configfile:).
WORKFLOW_CONFIG = "config.yaml"
#: The schema that validates a configuration and fills in its defaults: package data (the workflow's
#: workflow/schemas/config.schema.yaml links to it).
SCHEMA = Path(str(resources.files("dipbatch.data").joinpath("config.schema.yaml")))
#: Why the schema refuses a dataset's name (by the failing keyword of its propertyNames).
NAME_RULES = {
    "pattern": "not a usable dataset name: use letters, digits, '.', '_' and '-', not starting with "
               "'.' or '-' (the name becomes a folder)",
    "not": "not a usable dataset name: the workflow writes a file of that name beside the datasets' "
           "folders (<output>/index.html, <logs>/index.log); choose another",
}
#: The dataset keys that name folders the workflow reads.
FOLDER_KEYS = ("input", "reference", "mask_dir")


def load(path: str | Path) -> dict[str, Any]:
    """A YAML (or JSON) config file as a dict; an empty file is {}."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DipbatchError(path, f"not valid YAML ({short(exc)})") from None
    return data if isinstance(data, dict) else {}


def names_datasets(configfiles: Iterable[str | Path]) -> bool:
    return any("datasets" in load(path) for path in configfiles)


def replace_datasets(config: MutableMapping[str, Any], configfiles: Iterable[str | Path],
                     overwrite: Mapping[str, Any]) -> None:
    """When a command-line config file names `datasets`, make the run's datasets those of the
    command line alone (`overwrite`: Snakemake's merge of the command-line files and --config)."""
    if names_datasets(configfiles):
        config["datasets"] = copy.deepcopy(dict(overwrite.get("datasets") or {}))


def merged(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """`update` over `base`, nested dicts key by key (Snakemake's update_config)."""
    result = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def validate_schema(config: dict[str, Any]) -> None:
    """Validate against the schema, filling in its defaults; a bad value is a DipbatchError
    naming its dotted key (datasets.photo.preset)."""
    import jsonschema
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    try:
        validate(config, str(SCHEMA))
    except WorkflowError as exc:
        # snakemake.utils.validate raises its WorkflowError while handling the schema error.
        error = exc.__context__
        if not isinstance(error, jsonschema.ValidationError):
            raise
        key = ".".join(str(part) for part in error.absolute_path) or "config"
        if "propertyNames" in error.schema_path:  # a bad key: name it, and say which names work
            raise DipbatchError(f"{key}.{error.instance}", NAME_RULES.get(error.validator, error.message)) \
                from None
        if error.validator == "additionalProperties":  # a misspelt key: name it, and its likely fix
            raise DipbatchError(key, unexpected_keys(error.instance, error.schema)) from None
        raise DipbatchError(key, error.message) from None


def unexpected_keys(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    """`'iteration' is not a key here; did you mean iterations?`, for each key the schema lacks."""
    allowed = list(schema.get("properties", {}))
    parts = []
    for key in sorted(set(instance) - set(allowed)):
        close = difflib.get_close_matches(str(key), allowed, n=1)
        parts.append(f"{key!r} is not a key here" + (f"; did you mean {close[0]}?" if close else ""))
    return "; ".join(parts) + f" (the keys: {', '.join(allowed)})"


def dataset_ensemble(dataset: Mapping[str, Any], device: str) -> int:
    """A dataset's members per image on `device` (cpu, cuda; auto: the larger of the two): its
    `ensemble`, or for auto the device's default (1 for a warm-started sequence, and for every
    task but denoise)."""
    k = dataset.get("ensemble", "auto")
    if k != "auto":
        return int(k)
    warm = dataset.get("kind") == "sequence" and dataset.get("warm_start", True)
    kinds = [device] if device in DEVICE_ENSEMBLES else list(DEVICE_ENSEMBLES)
    return max(default_ensemble(kind, task=dataset.get("task", "denoise"), warm_start=warm) for kind in kinds)


def check_folders(name: str, dataset: Mapping[str, Any]) -> None:
    """Every folder a dataset names must exist (relative paths start at the working directory)."""
    for key in FOLDER_KEYS:
        if key in dataset and not os.path.isdir(dataset[key]):
            raise DipbatchError(f"datasets.{name}.{key}",
                                f"{dataset[key]!r} is not a folder (relative paths start at {os.getcwd()})")


def read_config(configfiles: Iterable[str | Path] = (), workflow_config: str | Path = WORKFLOW_CONFIG
                ) -> dict[str, Any]:
    """The configuration a `snakemake [--configfile F ...]` run in this folder gets, validated and
    with the schema's defaults filled in (outside Snakemake: `dipbatch plan`)."""
    configfiles = list(configfiles)
    overwrite: dict[str, Any] = {}
    for path in configfiles:
        overwrite = merged(overwrite, load(path))
    if not Path(workflow_config).is_file() and not configfiles:
        raise DipbatchError(workflow_config, "no such file: run in the workflow's folder, or give "
                                             "--configfile")
    base = load(workflow_config) if Path(workflow_config).is_file() else {}
    config = merged(base, overwrite)
    replace_datasets(config, configfiles, overwrite)
    validate_schema(config)
    for name, dataset in config["datasets"].items():
        check_folders(name, dataset)
    return config
