"""Per-dataset HTML quality reports: what happened to every image, at a glance.

`build.write_report` reads a dataset's summary.tsv and sidecars (`collect`), makes pictures
(`pictures`, pillow) and plots (`plots`, matplotlib Agg), and renders the jinja2 template
`dipbatch/templates/quality_report.html` (`render`). The `dipbatch report` command is in dipbatch.cli.report,
the workflow's side in dipbatch.workflow.pages.
"""
