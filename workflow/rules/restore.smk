# One job per image: `dipbatch restore` with the dataset's options.
#
# Lint note: `snakemake --lint` asks for a conda: or container: directive ("Specify a conda
# environment or container for each rule") on every rule that runs dipbatch in a shell command:
# restore here, restore_warm and temporal (sequence datasets), restore_video (video datasets) and
# each packed dataset's chunk rules (batch.smk); on the demo configuration that is restore,
# restore_warm and temporal. It is left out on purpose: the workflow imports dipbatch itself at
# parse time (discovery, summary), so dipbatch is already installed in the environment that runs
# Snakemake, and a per-rule conda env would have to pick a torch build, which depends on each
# cluster's CUDA driver. That is the only lint the workflow keeps, and tests/test_workflow.py
# checks that no other one appears.


rule restore:
    input:
        unpack(restore_input),
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
    benchmark:
        LAYOUT.benchmark("{dataset}", "{path}")
    wildcard_constraints:
        dataset=unpacked_datasets_regex(),
    threads: config["threads"]
    resources:
        gpu=restore_gpu_resource(),
        mem_mb=restore_mem_mb,
        runtime=restore_runtime,
        attempt=lambda wildcards, attempt: attempt,
    params:
        args=restore_args_param(),
    # No group: here. Packing N images into one SLURM job is a profile setting (groups: and
    # group-components:, see profiles/slurm/config.yaml); a group on the rule would make every
    # local and dry run build one group job per image, a tenth slower for 10,000 images.
    # Each attempt is appended to the log under its own header; an attempt after a data error or a
    # scancel replays its last line at once (dipbatch.workflow.attempts).
    shell:
        OUTLIVE_SIGTERM + f"{ATTEMPTS} begin {{log:q}} {{resources.attempt}} && "
        "dipbatch restore {input.image:q} -o {output.image:q} {params.args} --threads {threads} "
        "--overwrite >> {log:q} 2>&1 || {{ s=$?; "
        + f"{ATTEMPTS} end {{log:q}} {{resources.attempt}} $s; exit $s; }}}}"
