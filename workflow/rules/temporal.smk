# Frame sequences (datasets with kind: sequence): one temporal-consistency job per sequence, after
# its frames, and the optional warm-start chains of the per-frame restores.
#
#   results/<dataset>/consistent/<sequence>/   the consistent frames, temporal.tsv, .json, .svg
#   results/<dataset>/temporal.tsv             one row per sequence (dipbatch.workflow.sequences)
#
# A sequence is a folder of frames under the dataset's input, named by that folder (frames at the
# top take the input folder's name). Paths come from LAYOUT, inputs and options from
# SequenceWorkflow. The temporal and extract_frames jobs run `dipbatch temporal` and
# `dipbatch extract-frames` like restore runs `dipbatch restore`, so their errors reach the logs
# the same way; they and restore_warm share rule restore's lint note.

from dipbatch.workflow.sequences import SequenceWorkflow

TEMPORAL = SequenceWorkflow(LAYOUT, DATASETS, IMAGES, config["device"], input_path)


rule temporal:
    input:
        unpack(lambda wildcards: TEMPORAL.temporal_input(wildcards.dataset, wildcards.sequence, checkpoints)),
    output:
        directory(LAYOUT.consistent("{dataset}", "{sequence}")),
    log:
        LAYOUT.temporal_log("{dataset}", "{sequence}"),
    threads: config["threads"]
    resources:
        gpu=lambda wildcards: TEMPORAL.gpu(wildcards.dataset),
    params:
        source=lambda wildcards: TEMPORAL.source(wildcards.dataset, wildcards.sequence),
        restored=lambda wildcards: TEMPORAL.restored(wildcards.dataset, wildcards.sequence),
        args=lambda wildcards: TEMPORAL.temporal_args(wildcards.dataset),
    shell:
        "dipbatch temporal {params.source:q} {params.restored:q} -o {output:q} {params.args} "
        "--threads {threads} --overwrite --quiet > {log:q} 2>&1"


rule temporal_table:
    input:
        lambda wildcards: [LAYOUT.consistent(wildcards.dataset, s) for s in TEMPORAL.names(wildcards.dataset)],
    output:
        LAYOUT.temporal_table("{dataset}"),
    log:
        LAYOUT.temporal_table_log("{dataset}"),
    localrule: True
    run:
        TEMPORAL.write_table(wildcards.dataset, log[0])


# Warm start: the restore rule, chained. Frame i of a chunk starts from frame i-1's saved weights;
# every frame of a warm_start dataset saves its weights (temporary files, gone once used). The
# rule exists only when some dataset has warm_start: true. A chain is a critical path (each frame
# waits on the one before), so its jobs go first when cores are short: they then run beside the
# independent images instead of after them.
if TEMPORAL.links:

    use rule restore as restore_warm with:
        input:
            unpack(
                lambda wildcards: TEMPORAL.warm_input(
                    wildcards.dataset, wildcards.path, restore_input(wildcards)
                )
            ),
        output:
            image=LAYOUT.image("{dataset}", "{path}"),
            sidecar=LAYOUT.sidecar("{dataset}", "{path}"),
            weights=temp(LAYOUT.weights("{dataset}", "{path}")),
        wildcard_constraints:
            dataset=TEMPORAL.warm_datasets_regex(),
        priority: 10
        params:
            args=lambda wildcards, input, output: TEMPORAL.warm_args(
                wildcards.dataset,
                restore_args(wildcards, input),
                input.get("weights"),
                output.weights,
            ),

    ruleorder: restore_warm > restore


# Video files in a sequence dataset: decoded once (a checkpoint: the frame count is known only
# then), each frame restored by rule restore reused, then the temporal job re-encodes the video.
# These rules exist only when some sequence dataset holds a video.
if any(TEMPORAL.videos.values()):

    checkpoint extract_frames:
        input:
            lambda wildcards: TEMPORAL.input_path(wildcards.dataset, wildcards.video),
        output:
            directory(LAYOUT.decoded("{dataset}", "{video}")),
        log:
            LAYOUT.decode_log("{dataset}", "{video}"),
        wildcard_constraints:
            dataset=TEMPORAL.video_datasets_regex(),
            video=TEMPORAL.videos_regex(),
        localrule: True
        shell:
            "dipbatch extract-frames {input:q} -o {output:q} > {log:q} 2>&1"

    use rule restore as restore_video with:
        input:
            unpack(
                lambda wildcards: TEMPORAL.video_frame_input(
                    wildcards.dataset, wildcards.path, checkpoints.extract_frames
                )
            ),
        wildcard_constraints:
            dataset=TEMPORAL.video_datasets_regex(),
            path=TEMPORAL.video_frames_regex(),

    ruleorder: restore_video > restore

    if TEMPORAL.links:

        ruleorder: restore_video > restore_warm
