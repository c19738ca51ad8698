"""A restore job's attempts: each appended to the image's log under its own header line, and
retried only where a retry can help.

Snakemake empties a job's log before each attempt, so a failed attempt's log is also kept beside it
(`<log>.attempts`, see `history`) and put back in front of the next attempt's.

A retry fixes what the machine did: out of memory, a time limit, a lost node. It cannot fix what
the data did: `dipbatch restore` exits 1 for a bad file or option value (2 for a bad command line),
and the same input fails the same way every time. Nor does it undo a deliberate `scancel` or
Ctrl-C: Snakemake can see the job's exit before its own SIGINT and start a retry, which would fit
on after the user asked everything to stop. So an attempt that ended with one of those is final:
the next attempt asks for no more memory or time, replays the attempt's last line and exits at
once, without reading the image again.

The job's shell runs `begin` before `dipbatch restore` and, where it fails, `end`; it traps SIGTERM
so that it lives on to run `end` after SLURM's signal (scancel, a time limit) ends the fit.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from dipbatch.io.results import INTERRUPTED_MARK

#: The first line of every attempt in an image's log (the shell adds where it ran).
HEADER = "=== attempt"
#: The closing line of an attempt that failed: its exit status and, for a signal, why SLURM sent it.
ENDED = re.compile(r"^dipbatch: attempt (\d+) ended with exit (\d+)(?: \((.+)\))?$")
#: `dipbatch restore`'s exit statuses that no retry changes: a data error, a usage error.
FINAL_EXITS = {1: "a data error", 2: "a usage error"}
#: The cause of a signal that a retry must not undo.
CANCELLED = "cancelled with scancel"
#: Exit statuses of a job stopped by a signal it caught (SIGINT, SIGTERM).
SIGNALLED = (130, 143)
#: The exit status of a job stopped by SIGINT: Ctrl-C, which a retry must not undo.
CTRL_C = 130


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
    if not ended:
        return None
    status = int(ended.group(2))
    final = status in FINAL_EXITS or status == CTRL_C or ended.group(3) == CANCELLED
    return status if final else None


def scaling_attempt(log: str | Path, attempt: int) -> int:
    """The attempt that a job's memory and time grow with: its own, or 1 where the attempt before
    it failed for good (the replay asks for nothing more)."""
    return 1 if attempt > 1 and final_exit(log) is not None else attempt


def begin(log: str | Path, attempt: int, host: str, job: str) -> int:
    """Start an attempt: the earlier attempts' lines, then its header, into the log; on a retry
    after a final failure, that failure's last line again and the closing line, and return its
    exit status (0: go on and run the job). A first attempt forgets the attempts of earlier runs."""
    path, kept = Path(log), history(log)
    earlier = kept.read_text(encoding="utf-8", errors="replace") if attempt > 1 and kept.exists() else ""
    kept.unlink(missing_ok=True)
    status = final_exit_of(earlier)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(earlier)
        out.write(f"{HEADER} {attempt}: dipbatch restore on {host}, SLURM job {job or 'none'}\n")
        if status:
            out.write(f"dipbatch: not retried: attempt {attempt - 1} {_why_final(earlier, status)}\n"
                      f"{_last_word(earlier)}\n{_ended(attempt, status, _cause(earlier))}\n")
    return status or 0


def end(log: str | Path, attempt: int, status: int, cause: str | None) -> None:
    """Close a failed attempt: an `interrupted:` line where a signal stopped it without one, the
    closing line with its exit status (and `cause`, SLURM's reason for a signal), and the log kept
    for the next attempt. A replay (see `begin`) has closed itself."""
    path = Path(log)
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    lines = last_attempt(text).strip().splitlines()
    if not (lines and ENDED.match(lines[-1])):
        note_interruption(path, status, cause)
        with path.open("a", encoding="utf-8") as out:
            out.write(_ended(attempt, status, cause if status in SIGNALLED else None) + "\n")
    shutil.copyfile(path, history(path))


def note_interruption(log: Path, status: int, cause: str | None) -> None:
    """A job that died of SIGINT or SIGTERM (exit 130 or 143: Ctrl-C, scancel, a SLURM time limit)
    without saying so itself gets an `interrupted:` line, so that the summary says interrupted, not
    failed (dipbatch.workflow.summary). Only the log's last attempt counts."""
    if status not in SIGNALLED:
        return
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    if any(line.startswith(INTERRUPTED_MARK) for line in last_attempt(text).splitlines()):
        return
    why = f" ({cause})" if cause else ""
    with log.open("a", encoding="utf-8") as out:
        out.write(f"{INTERRUPTED_MARK} the job stopped on signal {status - 128}{why}; "
                  "run the same snakemake command again to resume\n")


def slurm_cause(job: str, timeout: float = 10.0) -> str | None:
    """Why SLURM is ending job `job`, asked while it ends (its state is COMPLETING, and squeue
    still knows the reason): a time limit, a cancel by a user (SLURM gives no reason), or SLURM's
    own word for any other (a preemption, a node failure). None outside SLURM or without an
    answer."""
    if not job or not shutil.which("squeue"):
        return None
    try:
        proc = subprocess.run(["squeue", "-h", "-j", job, "-o", "%r"], capture_output=True,
                              text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    reason = proc.stdout.strip()
    return cause_of(reason) if proc.returncode == 0 and reason else None


def cause_of(reason: str) -> str:
    """An attempt's cause from squeue's reason (`%r`) for a job that SLURM is ending."""
    return {"TimeLimit": "SLURM: time limit", "None": CANCELLED}.get(reason, f"SLURM: {reason}")


def _ended(attempt: int, status: int, cause: str | None) -> str:
    return f"dipbatch: attempt {attempt} ended with exit {status}" + (f" ({cause})" if cause else "")


def _cause(text: str) -> str | None:
    lines = text.strip().splitlines()
    ended = ENDED.match(lines[-1]) if lines else None
    return ended.group(3) if ended else None


def _why_final(earlier: str, status: int) -> str:
    if _cause(earlier) == CANCELLED:
        return f"was {CANCELLED}, which a retry must not undo"
    if status == CTRL_C:
        return "was stopped with Ctrl-C (SIGINT), which a retry must not undo"
    return f"ended with {FINAL_EXITS[status]} (exit {status}), which a retry cannot fix"


def _last_word(text: str) -> str:
    """The attempt's own last word: its `interrupted:` line, else its last `error:` line."""
    lines = last_attempt(text).splitlines()
    for prefix in (INTERRUPTED_MARK, "error:"):
        found = [line for line in lines if line.startswith(prefix)]
        if found:
            return found[-1]
    return ""


def main(argv: list[str]) -> int:
    """The restore rule's commands: `dipbatch-attempt begin LOG ATTEMPT` first, and
    `dipbatch-attempt end LOG ATTEMPT STATUS` where it fails; a packed job's rule uses
    `dipbatch-attempt note LOG STATUS`."""
    command, log, *rest = argv
    job = os.environ.get("SLURM_JOB_ID", "")
    if command == "begin":
        return begin(log, int(rest[0]), os.uname().nodename, job)
    status = int(rest[-1])
    cause = slurm_cause(job) if status in SIGNALLED else None
    if command == "end":
        end(log, int(rest[0]), status, cause)
    else:
        note_interruption(Path(log), status, cause)
    return 0


def console() -> int:
    """The `dipbatch-attempt` command (installed with dipbatch): `main` on the command line."""
    return main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(console())
