"""Configuration, image discovery and the helpers the rules share.

Everything here runs when Snakemake parses the workflow, once per run and once more inside every
SLURM job, so it only lists folders: images are opened (headers only) inside the resource
functions, lazily, one job at a time.
"""

import os
import re
import shlex
import sys
from contextlib import contextmanager

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from dipbatch.errors import DipbatchError
from dipbatch.tasks import task_record
from dipbatch.workflow import runlock
from dipbatch.workflow.attempts import scaling_attempt
from dipbatch.workflow.checks import dataset_problems, validate_config
from dipbatch.workflow.config import dataset_ensemble, replace_datasets
from dipbatch.workflow.discovery import IMAGE_PATH_REGEX, dataset_images, mask_for, pack, refused_files
from dipbatch.workflow.layout import Layout
from dipbatch.workflow.packed import chunk_of, place, staged_outputs
from dipbatch.workflow.resources import resource_preset, scaled
from dipbatch.workflow.restore_args import dataset_args as configured_args
from dipbatch.workflow.summary import start_count, summarize_dataset


def refuse(message):
    """Stop the run before any job with one line (exit 1): not a WorkflowError, which Snakemake
    prints at parse time with stack lines that look like a crash."""
    logger.error(message)
    sys.exit(1)


@contextmanager
def config_errors():
    """A configuration the dipbatch.workflow checks refuse stops the run with one line naming its key."""
    try:
        yield
    except DipbatchError as exc:
        refuse(f"Invalid configuration: {exc}")


def discover_dataset(name, dataset):
    """The relative paths of a dataset's images, in natural order."""
    with config_errors():
        return dataset_images(name, dataset)


def dataset_warnings(name, dataset, images, refused):
    """The workflow's warnings about one dataset, in the controller's log (.snakemake/log/), on its
    screen and in the dataset's report; under strict: an error before any job."""
    problems = dataset_problems(name, dataset, images, refused)
    for message in problems:
        if config["strict"]:
            refuse(f"Invalid configuration (strict: true): {message}")
        logger.warning(f"dipbatch: warning: {message}")
    return problems


# A --configfile that names datasets replaces config.yaml's datasets (the demo's) instead of adding
# to them (dipbatch.workflow.config).
replace_datasets(config, workflow.overwrite_configfiles, workflow.config_settings.overwrite_config)


def check_dataset_options(name, dataset, device):
    """A dataset's `options:` as `dipbatch restore` parses them. It imports the CLI (and torch), so
    only a dataset with `options:` pays that at the parse, which Snakemake repeats for every job it
    spawns."""
    from dipbatch.cli.checks import check_dataset_options as check_with_the_cli

    check_with_the_cli(name, dataset, device)


with config_errors():
    validate_config(config, check_dataset_options)

LAYOUT = Layout(results=config["output"], logs=config["logs"])
DATASETS = config["datasets"]
_FOUND = {name: discover_dataset(name, ds) for name, ds in DATASETS.items()}
#: Per dataset, the files found but not restorable, with their error lines (summary rows).
REFUSED = {name: refused_files(ds["input"], _FOUND[name]) for name, ds in DATASETS.items()}
#: Per dataset, the images to restore, in natural order.
IMAGES = {name: [rel for rel in _FOUND[name] if rel not in REFUSED[name]] for name in DATASETS}
#: Per dataset, the warnings of the checks above: in the controller's log and in the report.
WARNINGS = {name: dataset_warnings(name, ds, IMAGES[name], REFUSED[name]) for name, ds in DATASETS.items()}
if not DATASETS:
    if config["strict"]:
        refuse(
            "Invalid configuration (strict: true): datasets: the configuration names no "
            "dataset; there is nothing to restore"
        )
    logger.warning(
        "dipbatch: warning: datasets: the configuration names no dataset; there is nothing to restore"
    )
if workflow.is_main_process:  # the overall count, in the controller's log (.snakemake/log/)
    logger.info(f"dipbatch: {start_count(LAYOUT, IMAGES)}")
if any(arg == "--report" or arg.startswith("--report=") for arg in sys.argv):
    # `snakemake --report` after a run with failures: a failed image has no file to show, and
    # Snakemake refuses to build a report missing a file; leave it out (its dataset's quality report,
    # in the same report, lists it with its error and log).
    IMAGES = {
        name: [rel for rel in rels if os.path.exists(LAYOUT.sidecar(name, rel))]
        for name, rels in IMAGES.items()
    }
#: The chunks of the packed datasets (batch > 1), restored by rules/batch.smk, and each image's chunk.
CHUNKS = {name: pack(IMAGES[name], ds["batch"]) for name, ds in DATASETS.items() if ds["batch"] > 1}
CHUNK_OF = {name: chunk_of(chunks) for name, chunks in CHUNKS.items()}


wildcard_constraints:
    dataset=r"[^/]+",
    path=IMAGE_PATH_REGEX,


# --- targets -------------------------------------------------------------------------------------


def restored_sidecars(dataset):
    return [LAYOUT.sidecar(dataset, rel) for rel in IMAGES[dataset]]


def all_targets():
    """One summary per dataset, and every image with its sidecar. The summaries need the images
    too, but a file that only feeds others is an intermediate, which Snakemake (since 7.7) does not
    remake while the files built from it are newer: asked for itself, a deleted image is redone."""
    return [LAYOUT.summary(dataset) for dataset in DATASETS] + [
        path
        for dataset, rels in IMAGES.items()
        for rel in rels
        for path in (LAYOUT.image(dataset, rel), LAYOUT.sidecar(dataset, rel))
    ]


# --- rule restore --------------------------------------------------------------------------------


def input_path(dataset, rel):
    return f"{DATASETS[dataset]['input']}/{rel}"


def mask_path(name, rel):
    """An inpainting image's mask: beside it, or at the same relative place under mask_dir."""
    dataset = DATASETS[name]
    return f"{dataset.get('mask_dir', dataset['input'])}/{mask_for(rel, dataset['mask'])}"


def psf_path(name, rel):
    """A deblurring image's own PSF file, beside it (the dataset's psf: holds {stem}), else None."""
    psf = DATASETS[name].get("psf", "")
    return f"{DATASETS[name]['input']}/{mask_for(rel, psf)}" if "{stem}" in psf else None


def restore_input(wildcards):
    """The image (and, for inpainting, its mask) behind one output.

    A missing mask is left out of the inputs, so that only this image's job fails (dipbatch
    restore reports the missing --mask file in its log) rather than the whole run at DAG time.
    """
    dataset = DATASETS[wildcards.dataset]
    files = {"image": input_path(wildcards.dataset, wildcards.path)}
    if task_record(dataset["task"]).side_input == "mask":
        mask = mask_path(wildcards.dataset, wildcards.path)
        if os.path.exists(mask):
            files["mask"] = mask
    psf = psf_path(wildcards.dataset, wildcards.path)
    if psf and os.path.exists(psf):  # a missing one fails only its image's job, like a mask
        files["psf"] = psf
    return files


def dataset_args(name):
    """A dataset's options for `dipbatch restore` (all but the mask), as a list."""
    return configured_args(DATASETS[name], config["device"])


#: The restore rule's attempt commands (dipbatch.workflow.attempts): `begin` writes the attempt's
#: header into the log, or replays a final failure; `end` closes a failed attempt and keeps its log.
ATTEMPTS = "dipbatch-attempt"
#: A job's shell outlives SLURM's SIGTERM (scancel, a time limit) by trapping it, so that it still
#: closes the attempt once `dipbatch restore` has saved its checkpoint and said `interrupted:`.
OUTLIVE_SIGTERM = "trap : TERM; "


#: The first line of every restore job's log: where it ran (braces doubled for shell:).
LOG_HEADER = 'echo "dipbatch restore on $(hostname), SLURM job ${{SLURM_JOB_ID:-none}}"'


def restore_args(wildcards, input):
    """The options of one restore job, as one shell-quoted string."""
    args = dataset_args(wildcards.dataset)
    if task_record(DATASETS[wildcards.dataset]["task"]).side_input == "mask":
        args += ["--mask", mask_path(wildcards.dataset, wildcards.path)]
    psf = psf_path(wildcards.dataset, wildcards.path)
    if psf:
        args += ["--psf", psf]
    return shlex.join(args)


def uniform_or(values, function):
    """The single value when every dataset agrees on it, else the per-job function.

    Snakemake spends about 0.3 ms per job and callable on a dry run; over 10,000 images a
    constant keeps `snakemake -n` several seconds faster.
    """
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else function


def restore_args_param():
    if any(
        task_record(ds["task"]).side_input == "mask" or "{stem}" in ds.get("psf", "")
        for ds in DATASETS.values()
    ):
        return restore_args
    return uniform_or((shlex.join(dataset_args(name)) for name in DATASETS), restore_args)


def dataset_resources(dataset):
    """The resource table of a dataset's preset (config `resources`)."""
    return config["resources"][resource_preset(DATASETS[dataset]["preset"], config["device"])]


def preset_resources(wildcards):
    return dataset_resources(wildcards.dataset)


def restore_mem_mb(wildcards, input, attempt):
    grown = scaling_attempt(LAYOUT.log(wildcards.dataset, wildcards.path), attempt)
    return scaled(preset_resources(wildcards), "mem_mb", [input.image], grown)


def restore_runtime(wildcards, input, attempt):
    grown = scaling_attempt(LAYOUT.log(wildcards.dataset, wildcards.path), attempt)
    return scaled(preset_resources(wildcards), "runtime", [input.image], grown, ensemble(wildcards.dataset))


def ensemble(dataset):
    """A dataset's generators per image as its jobs' resources count them (auto: the device's)."""
    return dataset_ensemble(DATASETS[dataset], config["device"])


def unpacked_datasets_regex():
    """The datasets served by the one-job-per-image restore: all but the packed ones."""
    return "|".join(re.escape(name) for name in DATASETS if name not in CHUNKS) or "(?!)"


def restore_gpu(wildcards):
    return preset_resources(wildcards)["gpu"]


def restore_gpu_resource():
    presets = {resource_preset(ds["preset"], config["device"]) for ds in DATASETS.values()}
    return uniform_or((config["resources"][p]["gpu"] for p in presets), restore_gpu)


# --- packed restore rules (rules/batch.smk) -----------------------------------------------------


def packed_resource(dataset, key):
    """A packed job's mem_mb or runtime: grows with its images' pixels and doubles with each retry."""
    resources = dataset_resources(dataset)

    def resource(wildcards, input, attempt):
        return scaled(resources, key, input.images, attempt, ensemble(dataset))

    return resource


def packed_rule_name(dataset, index):
    return f"restore_{re.sub(r'[^A-Za-z0-9_]', '_', dataset)}_batch{index}"


def packed_datasets_regex():
    """The packed datasets, whose images rule place_packed puts in place."""
    return "|".join(re.escape(name) for name in CHUNKS) or "(?!)"


def place_packed(dataset, rel):
    """Rule place_packed's work: one packed image in place, or its own error as the job's failure."""
    try:
        place(LAYOUT, dataset, CHUNK_OF[dataset][rel], rel, input_path(dataset, rel))
    except DipbatchError as exc:
        raise WorkflowError(f"error: {exc}") from None


# --- rule summary --------------------------------------------------------------------------------


def write_summary_and_log(dataset, images, log):
    rows = summarize_dataset(dataset, images, LAYOUT, refused=REFUSED[dataset])
    counts = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    with open(log, "w", encoding="utf-8") as fh:
        print(f"{LAYOUT.summary(dataset)}: {counts}", file=fh)
