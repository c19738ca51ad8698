"""dipbatch: restore whole image archives with the Deep Image Prior.

From Python, the public entry points are importable from here: `restore_array` (an array in, its
restoration out), `restore_files` with `RestoreOptions` (files in, files and sidecars out), and
`read_image` / `write_image`. They are loaded on first use, so `import dipbatch` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

#: The public names and the modules that define them.
_PUBLIC = {"restore_array": "dipbatch.run.restore", "restore_files": "dipbatch.run.restore",
           "RestoreOptions": "dipbatch.run.restore", "read_image": "dipbatch.io.images",
           "write_image": "dipbatch.io.images"}

__all__ = ["RestoreOptions", "__version__", "read_image", "restore_array", "restore_files", "write_image"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'dipbatch' has no attribute {name!r}")
