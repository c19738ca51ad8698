# Frame sequences (datasets with kind: sequence): one temporal-consistency job per sequence, after
# its frames, and the optional warm-start chains of the per-frame restores.
#
#   results/<dataset>/consistent/<sequence>/   the consistent frames, temporal.tsv, .json, .svg
#   results/<dataset>/temporal.tsv             one row per sequence (dipbatch.temporal.workflow)
#
# A sequence is a folder of frames under the dataset's input, named by that folder (frames at the
# top take the input folder's name). Lint note: as for rule restore, no conda: directive.

import re
import shlex
from pathlib import Path

from dipbatch.temporal.workflow import (
    chain_links,
    sequence_folder,
    sequence_row,
    sequences,
    write_temporal_table,
)

SEQUENCES = {
    name: sequences(IMAGES[name], ds["input"])
    for name, ds in DATASETS.items()
    if ds["kind"] == "sequence"
}

# WARM_LINKS[dataset][frame] = the frame whose weights it starts from (warm_start: true only).
WARM_LINKS = {
    name: {
        frame: previous
        for frames in SEQUENCES[name].values()
        for frame, previous in chain_links(frames, DATASETS[name]["warm_chunk"]).items()
    }
    for name in SEQUENCES
    if DATASETS[name]["warm_start"]
}


def consistent_folder(dataset, sequence):
    return f"{LAYOUT.results}/{dataset}/consistent/{sequence}"


def temporal_table(dataset):
    return f"{LAYOUT.results}/{dataset}/temporal.tsv"


def temporal_log(dataset, sequence):
    return f"{LAYOUT.logs}/{dataset}/temporal/{sequence}.log"


def temporal_targets():
    return [temporal_table(name) for name in SEQUENCES]


def sequence_frames(wildcards):
    return SEQUENCES[wildcards.dataset][wildcards.sequence]


def temporal_input(wildcards):
    frames = sequence_frames(wildcards)
    return {
        "frames": [input_path(wildcards.dataset, rel) for rel in frames],
        "restored": [LAYOUT.image(wildcards.dataset, rel) for rel in frames],
    }


def temporal_args(wildcards):
    """The dataset's temporal: options for `dipbatch temporal`, as one shell-quoted string."""
    settings = DATASETS[wildcards.dataset]["temporal"]
    args = ["--method", settings["method"], "--device", config["device"]]
    for key in ("epochs", "lr", "features", "radius", "tolerance"):
        if key in settings:
            args += [f"--{key}", str(settings[key])]
    return shlex.join(args)


def temporal_gpu(wildcards):
    return DATASETS[wildcards.dataset]["temporal"]["gpu"]


def write_temporal_table_and_log(dataset, log):
    rows = [
        sequence_row(name, Path(consistent_folder(dataset, name)), Path(temporal_log(dataset, name)))
        for name in SEQUENCES[dataset]
    ]
    write_temporal_table(Path(temporal_table(dataset)), rows)
    with open(log, "w", encoding="utf-8") as fh:
        print(f"{temporal_table(dataset)}: {len(rows)} sequences", file=fh)


def temporal_tables_after_error():
    """For onerror: a temporal table for every sequence dataset that has started; never raise."""
    messages = []
    for dataset in SEQUENCES:
        if not any(Path(temporal_log(dataset, s)).exists() for s in SEQUENCES[dataset]):
            continue
        try:
            write_temporal_table_and_log(dataset, f"{LAYOUT.logs}/{dataset}/temporal.log")
        except Exception as exc:
            messages.append(f"dipbatch: could not write {temporal_table(dataset)}: {exc}")
            continue
        messages.append(f"dipbatch: {temporal_table(dataset)} written after the error")
    return messages


rule temporal:
    input:
        unpack(temporal_input),
    output:
        directory(consistent_folder("{dataset}", "{sequence}")),
    log:
        temporal_log("{dataset}", "{sequence}"),
    params:
        source=lambda wildcards: input_path(wildcards.dataset, sequence_folder(sequence_frames(wildcards))),
        restored=lambda wildcards: LAYOUT.image(wildcards.dataset, sequence_folder(sequence_frames(wildcards))),
        args=temporal_args,
    threads: config["threads"]
    resources:
        gpu=temporal_gpu,
    shell:
        "dipbatch temporal {params.source:q} {params.restored:q} -o {output:q} {params.args} "
        "--threads {threads} --overwrite --quiet > {log:q} 2>&1"


rule temporal_table:
    input:
        lambda wildcards: [consistent_folder(wildcards.dataset, s) for s in SEQUENCES[wildcards.dataset]],
    output:
        temporal_table("{dataset}"),
    log:
        f"{LAYOUT.logs}/{{dataset}}/temporal.log",
    localrule: True
    run:
        write_temporal_table_and_log(wildcards.dataset, log[0])


# --- warm start: the restore rule, chained ----------------------------------------------------------


def warm_restore_input(wildcards):
    files = restore_input(wildcards)
    previous = WARM_LINKS[wildcards.dataset].get(wildcards.path)
    if previous is not None:
        files["weights"] = warm_weights(wildcards.dataset, previous)
    return files


def warm_weights(dataset, rel):
    return f"{LAYOUT.image(dataset, rel)}.weights.pt"


def warm_restore_args(wildcards, input, output):
    """The restore options, plus the weights to start from and to save; warm_iterations if chained."""
    args = shlex.split(restore_args(wildcards, input)) + ["--save-weights", output.weights]
    if "weights" in input.keys():
        args += ["--init-weights", input.weights]
        iterations = DATASETS[wildcards.dataset].get("warm_iterations")
        if iterations:
            args += ["--iterations", str(iterations)]
    return shlex.join(args)


use rule restore as restore_warm with:
    input:
        unpack(warm_restore_input),
    output:
        image=LAYOUT.image("{dataset}", "{path}"),
        sidecar=LAYOUT.sidecar("{dataset}", "{path}"),
        weights=temp(warm_weights("{dataset}", "{path}")),
    params:
        args=warm_restore_args,
    wildcard_constraints:
        dataset="|".join(re.escape(name) for name in WARM_LINKS) or "(?!)",


ruleorder: restore_warm > restore
