"""Files: the image formats dipbatch reads and writes with their sample types and metadata (PNG,
JPEG, TIFF, FITS), the pixel limit applied to headers, the JSON sidecar and the results tables, the
run's outcomes, file names, and atomic, durable writes. It knows no fit and no task: the layers above
hand it arrays and records."""
