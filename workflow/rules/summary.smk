# One summary table per dataset: results/<dataset>/summary.tsv.
#
# The table is built from the files on disk (dipbatch.workflow.summary), so the Snakefile's onerror: handler
# writes the same table when some images failed under --keep-going and this rule cannot run. A
# kind: sequence dataset's summary waits for its temporal table and adds each frame's figures.


rule summary:
    input:
        # The sidecars stand for the restored images: restore writes both, or neither.
        lambda wildcards: restored_sidecars(wildcards.dataset),
        # A sequence dataset's frames get their sequence's temporal figures: after its temporal pass.
        lambda wildcards: (
            [LAYOUT.temporal_table(wildcards.dataset)] if wildcards.dataset in TEMPORAL.sequences else []
        ),
    output:
        LAYOUT.summary("{dataset}"),
    log:
        LAYOUT.summary_log("{dataset}"),
    localrule: True
    params:
        images=lambda wildcards: IMAGES[wildcards.dataset],
        refused=lambda wildcards: sorted(REFUSED[wildcards.dataset]),
    run:
        write_summary_and_log(wildcards.dataset, params.images, log[0])
