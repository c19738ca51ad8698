# Packed datasets (batch: N > 1): one job per chunk of about N images, which `dipbatch restore`
# fits together as one batched computation on one GPU, each image with its own net and early stop.
#
# Snakemake has no rule whose outputs are a list computed per job, so each chunk gets its own
# rule, with its files spelled out (no wildcards). The chunks are cut by name
# (dipbatch.workflow.discovery.pack): a new image changes one chunk and one rule.
#
# A failed job loses every output it declared, so a chunk's job declares only its outcome file and
# writes its images to a staging folder; it succeeds when its failures are images' own data errors.
# Then rule place_packed puts each image in place, or fails with that image's own error
# (dipbatch.workflow.packed). Each image's log starts as a copy of the chunk's, so that a chunk
# that fails as a whole (a crash, a time limit) still gives every image its line.


for _dataset, _chunks in CHUNKS.items():
    for _index, _chunk in enumerate(_chunks):

        rule:
            name:
                packed_rule_name(_dataset, _index)
            input:
                images=[input_path(_dataset, rel) for rel in _chunk],
            output:
                LAYOUT.outcomes(_dataset, _chunk[0]),
            log:
                LAYOUT.batch_log(_dataset, _chunk[0]),
            benchmark:
                LAYOUT.batch_benchmark(_dataset, _chunk[0])
            threads: config["threads"]
            resources:
                gpu=dataset_resources(_dataset)["gpu"],
                mem_mb=packed_resource(_dataset, "mem_mb"),
                runtime=packed_resource(_dataset, "runtime"),
            params:
                args=shlex.join(dataset_args(_dataset)),
                outputs=staged_outputs(LAYOUT, _dataset, _chunk),
                image_logs=[LAYOUT.log(_dataset, rel) for rel in _chunk],
                staging=sorted({os.path.dirname(LAYOUT.staged(_dataset, _chunk[0], rel)) for rel in _chunk}),
            shell:
                OUTLIVE_SIGTERM + "status=0; mkdir -p {params.staging:q}; "
                f"{{{{ {LOG_HEADER}; "
                "dipbatch restore {input.images:q} {params.outputs} {params.args} "
                "--threads {threads} --overwrite --outcomes {output:q}; }} > {log:q} 2>&1 || status=$?; "
                # exit 1 with every outcome written: only images' own data errors (rule place_packed)
                "if [ $status -eq 1 ] && [ -f {output:q} ]; then status=0; fi; "
                + f"{ATTEMPTS} note {{log:q}} $status; "
                + 'for copy in {params.image_logs:q}; do mkdir -p "$(dirname "$copy")"; '
                'cp {log:q} "$copy"; done; exit $status'


# One small local job per image of a packed dataset: its staged result into place, or its own error.
rule place_packed:
    input:
        lambda wildcards: LAYOUT.outcomes(wildcards.dataset, CHUNK_OF[wildcards.dataset][wildcards.path]),
    output:
        image=report(
            LAYOUT.image("{dataset}", "{path}"),
            caption="../report/restored.rst",
            category="Restored images",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "image": "{path}"},
        ),
        sidecar=LAYOUT.sidecar("{dataset}", "{path}"),
    log:
        LAYOUT.log("{dataset}", "{path}"),
    wildcard_constraints:
        dataset=packed_datasets_regex(),
    localrule: True
    run:
        place_packed(wildcards.dataset, wildcards.path)
