"""A restore job's attempts: each appended to the image's log under its own header line, and
retried only where a retry can help.

Snakemake empties a job's log before each attempt, so a failed attempt's log is also kept beside it
(`<log>.attempts`, see `history`) and put back in front of the next attempt's.

A retry fixes what the machine did: out of memory, a time limit, a lost node. It cannot fix what
the data did: `dipbatch restore` exits 1 for a bad file or option value (2 for a bad command line),
and the same input fails the same way every time. So an attempt that ended with one of those is
final: the next attempt asks for no more memory or time, replays the error line and exits at once,
without reading the image again.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

#: The first line of every attempt in an image's log (the shell adds where it ran).
HEADER = "=== attempt"
#: The line the shell appends when an attempt fails: its exit status.
ENDED = re.compile(r"^dipbatch: attempt (\d+) ended with exit (\d+)$")
#: `dipbatch restore`'s exit statuses that no retry changes: a data error, a usage error.
FINAL_EXITS = {1: "a data error", 2: "a usage error"}


def last_attempt(text: str) -> str:
    """The log's last attempt: the lines from its last header on (all of it without one)."""
    start = text.rfind(f"\n{HEADER}")
    return text[start + 1:] if start >= 0 else text


def history(log: str | Path) -> Path:
    """Where the shell keeps a failed attempt's log for the next attempt (Snakemake empties the log)."""
    return Path(f"{log}.attempts")


def final_exit(log: str | Path) -> int | None:
    """The exit status of the last failed attempt where no retry can change it, else None."""
    try:
        return final_exit_of(history(log).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


def final_exit_of(text: str) -> int | None:
    """The exit status that the log text's closing line records, where no retry can change it."""
    lines = text.strip().splitlines()
    ended = ENDED.match(lines[-1]) if lines else None
    status = int(ended.group(2)) if ended else None
    return status if status in FINAL_EXITS else None


def scaling_attempt(log: str | Path, attempt: int) -> int:
    """The attempt that a job's memory and time grow with: its own, or 1 where the attempt before
    it failed for good (the replay asks for nothing more)."""
    return 1 if attempt > 1 and final_exit(log) is not None else attempt


def begin(log: str | Path, attempt: int, host: str, job: str) -> int:
    """Start an attempt: the earlier attempts' lines, then its header, into the log; on a retry
    after a final failure, that failure's error line again, and return its exit status (0: go on and
    run the job). A first attempt forgets the attempts of earlier runs."""
    path, kept = Path(log), history(log)
    earlier = kept.read_text(encoding="utf-8", errors="replace") if attempt > 1 and kept.exists() else ""
    kept.unlink(missing_ok=True)
    status = final_exit_of(earlier)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(earlier)
        out.write(f"{HEADER} {attempt}: dipbatch restore on {host}, SLURM job {job or 'none'}\n")
        if status:
            out.write(f"dipbatch: not retried: attempt {attempt - 1} ended with {FINAL_EXITS[status]} "
                      f"(exit {status}), which a retry cannot fix\n{_error_line(earlier)}\n")
    return status or 0


def _error_line(text: str) -> str:
    errors = [line for line in last_attempt(text).splitlines() if line.startswith("error:")]
    return errors[-1] if errors else ""


def main(argv: list[str]) -> int:
    """`python -m dipbatch.workflow.attempts LOG ATTEMPT`: the restore rule's first command."""
    log, attempt = argv
    return begin(log, int(attempt), os.uname().nodename, os.environ.get("SLURM_JOB_ID", ""))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
