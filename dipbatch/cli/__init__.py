"""The `dipbatch` command: every click decorator and command, and the mapping of the library's
errors to one-line messages, flags and exit codes (`errors`). The library never imports this."""

from dipbatch.cli.app import main

__all__ = ["main"]
