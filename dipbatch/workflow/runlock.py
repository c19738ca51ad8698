"""Which Snakemake controller is writing an output folder, claimed atomically when it is checked.

Snakemake's own locks (``.snakemake/locks``) hold no process id, so after a ``kill -9`` of the
controller every rerun stops with a LockException until ``snakemake --unlock``; they guard one
working folder only, and two controllers started in the same second can both pass them. So a run
that will write its output folder claims it while the workflow is parsed, before the DAG is built:
it holds an exclusive ``flock`` on ``<output>/.dipbatch-run.lock`` for as long as the controller
lives (the kernel drops it when the process dies, however it dies), and records who it is (pid,
host, working folder) in ``<output>/.dipbatch-run.json`` for the messages. Where the filesystem
offers no ``flock``, the record itself is the claim, created exclusively. A dry run, a report or a
listing only checks. The next run reads the record to tell a dead controller from a live one.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from dipbatch.errors import DipbatchError
from dipbatch.io.atomic import write_bytes_atomic

RECORD = ".dipbatch-run.json"
LOCK = ".dipbatch-run.lock"
#: Snakemake's options that make a run read-only: it checks the output folder but claims nothing.
READ_ONLY_OPTIONS = ("dryrun", "lint", "report", "summary", "detailed_summary", "dag", "rulegraph",
                     "filegraph", "d3dag", "unlock", "list_rules", "list_target_rules", "list_changes",
                     "list_input_changes", "list_params_changes", "list_untracked", "list_code_changes",
                     "print_compilation", "export_cwl", "containerize", "archive")
#: What flock says on a filesystem that cannot lock (some NFS setups, Lustre without -o flock).
_NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)

_held: dict[str, int | None] = {}  # output folder (resolved) → the fd of its lock (None: the record)


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
        if self.pid == os.getpid():
            return True
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return False
        return b"snakemake" in cmdline  # else the pid was reused by another program

    def __str__(self) -> str:
        return f"the snakemake run {self.pid} on {self.host} in {self.workdir}"


def claims_output(argv: Sequence[str]) -> bool:
    """Whether a snakemake command line writes outputs (a run), rather than only reading (-n,
    --report, --list, --lint, --unlock...): read with Snakemake's own parser."""
    from snakemake.cli import get_argument_parser

    args, _ = get_argument_parser().parse_known_args(list(argv))
    return not any(getattr(args, name, None) for name in READ_ONLY_OPTIONS)


def acquire(output: str | Path, claim: bool, locks: str | Path = ".snakemake/locks") -> str | None:
    """Before a run: check the output folder and, with `claim`, take it for this process, in one
    atomic step. Refuse a folder that a live controller writes (any working folder: a dry run may
    look at a live run of its own working folder). Return a warning naming the commands to run when
    a dead controller left this folder's Snakemake locks."""
    folder = Path(output)
    if not claim and not folder.is_dir():
        return None  # nobody writes there yet; a look creates nothing
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise DipbatchError(output, f"cannot prepare the output folder ({exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return _refuse_live(output, _live_holder(output), claim)
    except OSError as exc:
        os.close(fd)
        if exc.errno not in _NO_FLOCK:
            raise
        return _acquire_by_record(output, claim, locks)
    found = holder(output)  # the lock was free: whoever this names is gone
    if not claim:
        os.close(fd)
        return _stale_warning(found, locks)
    _held[_key(output)] = fd
    _record(output)
    return _stale_warning(found, locks)


def release(output: str | Path) -> None:
    """Give up this process's claim (onsuccess:, onerror:, and at exit): remove the record if it is
    this process's, then drop the lock."""
    key = _key(output)
    if key not in _held:
        return
    if holder(output) == Controller.this():
        with contextlib.suppress(OSError):
            (Path(output) / RECORD).unlink()
    fd = _held.pop(key)
    if fd is not None:
        os.close(fd)


def holder(output: str | Path) -> Controller | None:
    try:
        return Controller(**json.loads((Path(output) / RECORD).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _may_live(found: Controller | None) -> bool:
    """A record names a controller that is alive, or not known to be dead (another host's)."""
    return found is not None and found.alive() is not False


def _live_holder(output: str | Path, wait_s: float = 10.0) -> Controller | None:
    """The controller that holds the folder's lock, as its record names it: the holder writes its
    record just after taking the lock, so a record that is missing or names a dead controller is
    read again for up to `wait_s` seconds before giving up (None)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = holder(output)
        if _may_live(found):
            return found
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def _key(output: str | Path) -> str:
    return os.path.realpath(output)


def _record(output: str | Path) -> None:
    """Write this process's record; a folder that cannot take it (a full disk) gives up the claim."""
    try:
        write_bytes_atomic(Path(output) / RECORD, json.dumps(asdict(Controller.this())).encode())
    except OSError as exc:
        release(output)
        raise DipbatchError(output, f"cannot record this run in the output folder "
                                    f"({exc.strerror or exc}); free some space there") from None
    atexit.register(release, output)


def _refuse_live(output: str | Path, found: Controller | None, claim: bool) -> str | None:
    """A live controller holds the folder: refuse, unless this is a look (a dry run) from its own
    working folder."""
    here = found is not None and os.path.realpath(found.workdir) == os.path.realpath(os.getcwd())
    if here and not claim:
        return None
    who = found or "another snakemake run"
    raise DipbatchError(output, f"is being written by {who}; wait for it to end"
                                + ("" if here else " or give this working folder another output: folder"))


def _stale_warning(found: Controller | None, locks: str | Path) -> str | None:
    """The commands to run when the controller that last wrote here from this folder was killed."""
    if found is None or os.path.realpath(found.workdir) != os.path.realpath(os.getcwd()):
        return None
    if found.alive() is False and any(Path(locks).glob("*.lock")):
        return (f"{found} was killed and left its locks in {locks}: if no other snakemake runs here, "
                "run `snakemake --unlock`, then `snakemake --rerun-incomplete` (the profiles set it)")
    return None


def _acquire_by_record(output: str | Path, claim: bool, locks: str | Path) -> str | None:
    """`acquire` where the filesystem cannot flock: the record, created exclusively, is the claim;
    a record whose controller is dead is moved aside (one rename: one taker) and the claim retried."""
    record = Path(output) / RECORD
    for _ in range(2):
        found = holder(output)
        if _may_live(found):
            return _refuse_live(output, found, claim)
        if not claim:
            return _stale_warning(found, locks)
        if found is not None:  # dead: take it over
            aside = record.with_name(f"{RECORD}.{os.getpid()}.stale")
            with contextlib.suppress(FileNotFoundError):
                os.rename(record, aside)
                aside.unlink()
        try:
            fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue  # another run took it first: look again
        except OSError as exc:
            raise DipbatchError(output, f"cannot record this run in the output folder "
                                        f"({exc.strerror or exc}); free some space there") from None
        os.close(fd)
        _held[_key(output)] = None
        _record(output)
        return _stale_warning(found, locks)
    return _refuse_live(output, holder(output), claim)
