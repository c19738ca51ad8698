"""Fitting generators to images: the inverse problem, the fit loop (several members at once), the
stopping rules and the pure signals they decide on, seed ensembles, tiling of large frames, warm
starts, checkpoints, signals that interrupt a fit, presets (net and recipe per task) and speed
options. It works on tensors and problems; it reads no file but its own checkpoints."""
