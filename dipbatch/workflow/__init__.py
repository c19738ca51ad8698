"""The Python side of the Snakemake workflow (workflow/Snakefile): one path layout for every rule
and helper (`layout`), image discovery and packing (`discovery`), the per-dataset summary
(`summary`), the sequence datasets' glue (`sequences`) and the reports' (`report`).

Cheap at parse time: these modules list folders and build strings; every heavy job runs a
`dipbatch` command in a shell, so its errors reach its log the way restore's do.
"""
