"""Which Snakemake controller is writing an output folder: its pid, host and working folder.

Snakemake's own locks (``.snakemake/locks``) hold no process id, so after a ``kill -9`` of the
controller every rerun stops with a LockException until ``snakemake --unlock``, and they guard one
working folder only. The workflow records its controller in ``<output>/.dipbatch-run.json`` when
it starts and removes the record when it ends; the next run reads it to tell a dead controller
from a live one (on the same host) and to keep a second working folder out of a live run's output.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from dipbatch.atomic import write_bytes_atomic
from dipbatch.errors import DipbatchError

RECORD = ".dipbatch-run.json"


@dataclass(frozen=True)
class Controller:
    pid: int
    host: str
    workdir: str

    @classmethod
    def this(cls) -> Controller:
        return cls(os.getpid(), socket.gethostname(), os.getcwd())

    def alive(self) -> bool | None:
        """Whether the controller still runs; None when it ran on another host (unknowable)."""
        if self.host != socket.gethostname():
            return None
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return False
        return b"snakemake" in cmdline  # else the pid was reused by another program

    def __str__(self) -> str:
        return f"the snakemake run {self.pid} on {self.host} in {self.workdir}"


def claim(output: str | Path) -> None:
    """Record this process as the controller writing `output` (from the workflow's onstart:)."""
    Path(output).mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(Path(output) / RECORD, json.dumps(asdict(Controller.this())).encode())


def release(output: str | Path) -> None:
    """Remove the record if it is this process's (onsuccess: and onerror:)."""
    if holder(output) == Controller.this():
        (Path(output) / RECORD).unlink(missing_ok=True)


def holder(output: str | Path) -> Controller | None:
    try:
        return Controller(**json.loads((Path(output) / RECORD).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def check(output: str | Path, locks: str | Path = ".snakemake/locks") -> str | None:
    """Before a run: refuse an output folder a live controller of another working folder writes to;
    return a warning naming the commands to run when a dead controller left this folder's locks."""
    found = holder(output)
    if found is None:
        return None
    alive = found.alive()
    if os.path.realpath(found.workdir) != os.path.realpath(os.getcwd()):
        if alive is False:
            return None  # a killed run's record: nobody writes there now
        hint = "" if alive else f" (if that run is over, delete {Path(output) / RECORD})"
        raise DipbatchError(output, f"is being written by {found}; wait for it to end or give this "
                                    f"working folder another output: folder{hint}")
    if alive is False and any(Path(locks).glob("*.lock")):
        return (f"{found} was killed and left its locks in {locks}: if no other snakemake runs here, "
                "run `snakemake --unlock`, then `snakemake --rerun-incomplete` (the profiles set it)")
    return None
