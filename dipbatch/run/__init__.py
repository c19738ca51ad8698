"""Running restorations: image files in, restored files and sidecars out (`restore_files`), or an array
for a notebook (`restore_array`); the worker pool for CPUs, the device choice, progress lines, the
step-time calibration for plans, and the doubts about a result that the faces report. It ties the
layers below together; the CLI and the workflow call it."""
