"""The output folder's claim (dipbatch.workflow.runlock): one controller at a time, atomically."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dipbatch.errors import DipbatchError
from dipbatch.workflow import runlock


@pytest.fixture(params=["flock", "exclusive record"])
def locking(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways to claim: flock, and (a filesystem without flock) the record created exclusively."""
    if request.param == "exclusive record":
        def no_flock(fd: int, operation: int) -> None:
            raise OSError(errno.ENOLCK, "No locks available")

        monkeypatch.setattr(fcntl, "flock", no_flock)
    return request.param


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_claimed_folder_is_refused_until_it_is_released(tmp_path: Path, locking: str) -> None:
    out = tmp_path / "results"
    assert runlock.acquire(out, claim=True) is None
    assert runlock.holder(out) == runlock.Controller.this()
    with pytest.raises(DipbatchError) as refused:
        runlock.acquire(out, claim=True)
    assert str(refused.value) == (f"{out}: is being written by the snakemake run {os.getpid()} on "
                                  f"{socket.gethostname()} in {os.getcwd()}; wait for it to end")
    runlock.release(out)
    assert runlock.holder(out) is None
    assert runlock.acquire(out, claim=True) is None
    runlock.release(out)


def test_a_look_from_the_same_working_folder_passes_a_live_claim(tmp_path: Path, locking: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runlock.acquire("results", claim=True)
    try:
        assert runlock.acquire("results", claim=False) is None  # a dry run beside the run
    finally:
        runlock.release("results")


def test_a_dead_controllers_record_is_taken_over_with_the_commands_to_run(
        tmp_path: Path, locking: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    dead = runlock.Controller(dead_pid(), socket.gethostname(), str(tmp_path))
    (tmp_path / "results" / runlock.RECORD).write_text(json.dumps(dead.__dict__))
    (tmp_path / ".snakemake" / "locks").mkdir(parents=True)
    (tmp_path / ".snakemake" / "locks" / "0.output.lock").write_text("")
    warning = runlock.acquire("results", claim=True)
    assert warning is not None and warning.startswith(f"{dead} was killed and left its locks")
    assert runlock.holder("results") == runlock.Controller.this()
    runlock.release("results")


@pytest.mark.parametrize(("argv", "claims"), [
    (["--cores", "2"], True), (["--profile", "slurm"], True), (["-np"], False), (["--dry-run"], False),
    (["--report", "r.zip"], False), (["--unlock"], False), (["--list-rules"], False), (["--lint"], False),
])
def test_only_a_run_that_writes_claims_the_folder(argv: list[str], claims: bool) -> None:
    assert runlock.claims_output(argv) is claims


def test_a_holder_that_has_not_yet_written_its_record_is_still_named(tmp_path: Path) -> None:
    """Two controllers started together: the loser can find the lock taken before the winner's
    record is written (an old record of a killed run still there); it waits for the record and names
    the winner rather than "another snakemake run"."""
    out = tmp_path / "results"
    out.mkdir()
    (out / runlock.RECORD).write_text(json.dumps(
        runlock.Controller(dead_pid(), socket.gethostname(), str(tmp_path)).__dict__))
    winner = subprocess.Popen([sys.executable, "-c", (
        "# a snakemake controller's claim, its record written late\n"
        "import fcntl, os, sys, time\n"
        "from pathlib import Path\n"
        "from dipbatch.workflow import runlock\n"
        "out = Path(sys.argv[1])\n"
        "fd = os.open(out / runlock.LOCK, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(1.0)\n"
        "runlock._record(out)\n"
        "time.sleep(60)\n"), str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert winner.stdout is not None and winner.stdout.readline() == "locked\n"
        with pytest.raises(DipbatchError) as refused:
            runlock.acquire(out, claim=True)
        assert f"is being written by the snakemake run {winner.pid} on {socket.gethostname()}" in str(
            refused.value)
    finally:
        winner.kill()
        winner.wait()
