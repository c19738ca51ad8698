"""Video and frame sequences: temporal consistency after per-frame restoration.

sequence (frames in natural order, checks), video (PyAV decode/encode), flow (DIS flow, occlusion,
warping), metrics (warping error, flicker), dvp (Deep Video Prior pass), flowfilter (flow-guided
filter), run (one sequence end to end), report (its table, record and plot). The commands are in
dipbatch.cli.temporal, the workflow's glue in dipbatch.workflow.sequences.
"""

METHODS = ("dvp", "flow", "none")  # dvp: Deep Video Prior; flow: flow-guided filter; none: measure only
#: The one definition of the default pass: the CLI and the workflow's config fall back to it. The flow
#: filter at radius 2 met the goal on every sequence of benchmarks/temporal.py (RESULTS.md).
DEFAULT_METHOD = "flow"
