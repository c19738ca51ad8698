"""dipbatch: restore whole image archives with the Deep Image Prior."""

__version__ = "0.1.0"
