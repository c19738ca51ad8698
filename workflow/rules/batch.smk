# Packed datasets (batch: N > 1): one job per chunk of about N images, which `dipbatch restore`
# fits together as one batched computation on one GPU, each image with its own net and early stop.
#
# Snakemake has no rule whose outputs are a list computed per job, so each chunk gets its own
# rule, with its files spelled out (no wildcards; rule restore leaves these datasets alone). The
# chunks are cut by name (dipbatch.workflow.discovery.pack): a new image changes one chunk and one rule.
# A failed job loses its whole chunk (Snakemake removes a failed job's outputs); each image's log
# is a copy of the chunk's, so the summary still gives every image the error line.


for _dataset, _chunks in CHUNKS.items():
    for _index, _chunk in enumerate(_chunks):

        rule:
            name:
                packed_rule_name(_dataset, _index)
            input:
                images=[input_path(_dataset, rel) for rel in _chunk],
            output:
                images=[
                    report(
                        LAYOUT.image(_dataset, rel),
                        caption="../report/restored.rst",
                        category="Restored images",
                        subcategory=_dataset,
                        labels={"dataset": _dataset, "image": rel},
                    )
                    for rel in _chunk
                ],
                sidecars=[LAYOUT.sidecar(_dataset, rel) for rel in _chunk],
            log:
                batch=LAYOUT.batch_log(_dataset, _chunk[0]),
                images=[LAYOUT.log(_dataset, rel) for rel in _chunk],
            benchmark:
                LAYOUT.batch_benchmark(_dataset, _chunk[0])
            params:
                args=shlex.join(dataset_args(_dataset)),
                outputs=packed_outputs(_dataset, _chunk),
            threads: config["threads"]
            resources:
                gpu=dataset_resources(_dataset)["gpu"],
                mem_mb=packed_resource(_dataset, "mem_mb"),
                runtime=packed_resource(_dataset, "runtime"),
            shell:
                "status=0; "
                f"({LOG_HEADER}; "
                "dipbatch restore {input.images:q} {params.outputs} {params.args} "
                "--threads {threads} --overwrite) > {log.batch:q} 2>&1 || status=$?; "
                + interrupt_note("{log.batch:q}") + "for copy in {log.images:q}; do cp {log.batch:q} \"$copy\"; done; "
                "exit $status"
