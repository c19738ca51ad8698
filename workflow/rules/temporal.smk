# Frame sequences (datasets with kind: sequence): one temporal-consistency job per sequence, after
# its frames, and the optional warm-start chains of the per-frame restores.
#
#   results/<dataset>/consistent/<sequence>/   the consistent frames, temporal.tsv, .json, .svg
#   results/<dataset>/temporal.tsv             one row per sequence (dipbatch.temporal.workflow)
#
# A sequence is a folder of frames under the dataset's input, named by that folder (frames at the
# top take the input folder's name). Paths, inputs and options come from SequenceWorkflow; the
# temporal job runs in the Snakemake process (run:), restore_warm is rule restore reused (its lint
# note applies).

from dipbatch.temporal.workflow import SequenceWorkflow

TEMPORAL = SequenceWorkflow(LAYOUT, DATASETS, IMAGES, config["device"], input_path)


rule temporal:
    input:
        unpack(
            lambda wildcards: TEMPORAL.temporal_input(
                wildcards.dataset, wildcards.sequence, checkpoints
            )
        ),
    output:
        directory(TEMPORAL.consistent("{dataset}", "{sequence}")),
    log:
        TEMPORAL.log("{dataset}", "{sequence}"),
    threads: config["threads"]
    resources:
        gpu=lambda wildcards: TEMPORAL.gpu(wildcards.dataset),
    run:
        TEMPORAL.run(wildcards.dataset, wildcards.sequence, output[0], log[0], threads)


rule temporal_table:
    input:
        lambda wildcards: [
            TEMPORAL.consistent(wildcards.dataset, s) for s in TEMPORAL.names(wildcards.dataset)
        ],
    output:
        TEMPORAL.table("{dataset}"),
    log:
        TEMPORAL.table_log("{dataset}"),
    localrule: True
    run:
        TEMPORAL.write_table(wildcards.dataset, log[0])


# Warm start: the restore rule, chained. Frame i of a chunk starts from frame i-1's saved weights;
# every frame of a warm_start dataset saves its weights (temporary files, gone once used). The
# rule exists only when some dataset has warm_start: true.
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
            weights=temp(TEMPORAL.weights("{dataset}", "{path}")),
        params:
            args=lambda wildcards, input, output: TEMPORAL.warm_args(
                wildcards.dataset,
                restore_args(wildcards, input),
                input.get("weights"),
                output.weights,
            ),
        wildcard_constraints:
            dataset=TEMPORAL.warm_datasets_regex(),


    ruleorder: restore_warm > restore


# Video files in a sequence dataset: decoded once (a checkpoint: the frame count is known only
# then), each frame restored by rule restore reused, then the temporal job re-encodes the video.
# These rules exist only when some sequence dataset holds a video.
if any(TEMPORAL.videos.values()):

    checkpoint extract_frames:
        input:
            lambda wildcards: TEMPORAL.input_path(wildcards.dataset, wildcards.video),
        output:
            directory(TEMPORAL.decoded("{dataset}", "{video}")),
        log:
            TEMPORAL.decode_log("{dataset}", "{video}"),
        wildcard_constraints:
            dataset=TEMPORAL.video_datasets_regex(),
            video=TEMPORAL.videos_regex(),
        localrule: True
        run:
            TEMPORAL.extract(input[0], output[0], log[0])

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
