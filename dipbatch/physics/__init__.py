"""The maths of the forward problem, as pure functions on arrays and tensors: the tasks' operators
(identity, downsampling), the data-fit terms of the noise models (Gaussian, Poisson, Poisson-Gaussian),
the image metrics (PSNR, noise level) and synthetic scenes for tests and benchmarks. Nothing here
reads a file, knows a fit, or imports any other part of dipbatch but its errors."""
