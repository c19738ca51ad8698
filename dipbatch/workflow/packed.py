"""Packed datasets (batch: N): one job fits a chunk of images together, each image's own job puts
its result in place.

Snakemake removes every output of a job that exits non-zero, so a chunk whose outputs were its
images would lose its good images to one corrupt chunk-mate. Instead the packed job writes its
images and sidecars to a staging folder (``<dataset>/.packed/<first image>/``) and declares only
the chunk's outcome file (``dipbatch restore --outcomes``); it succeeds when every failure is an
image's own data error. Then one small local job per image links the staged image into place with
its sidecar (the pair atomic, as every output), or fails with that image's own error line. A good
image is never lost to a bad chunk-mate, and every summary row carries its own error.
The staged copy stays (a hard link, no extra space), so a deleted output is put back by a rerun.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
from pathlib import Path

from dipbatch.errors import DipbatchError
from dipbatch.io.atomic import atomic_paths
from dipbatch.io.results import read_outcomes
from dipbatch.io.sidecar import read_sidecar, sidecar_bytes, sidecar_path
from dipbatch.workflow.layout import Layout


def place(layout: Layout, dataset: str, first: str, rel: str, source: str) -> str:
    """Put one image of a packed chunk in place with its sidecar and write its log; return the log's
    line. An image the chunk did not restore raises a DipbatchError with its own `error:` line
    (also the last line of its log)."""
    staged, final = layout.staged(dataset, first, rel), layout.image(dataset, rel)
    outcomes, batch_log = layout.outcomes(dataset, first), layout.batch_log(dataset, first)
    outcome = read_outcomes(outcomes).get(staged)
    if outcome is None:
        line = f"error: {source}: the packed job left no outcome for this image; see its log {batch_log}"
    elif outcome.get("status") != "ok":
        line = outcome.get("line") or f"error: {source}: failed in the packed job"
    elif not (os.path.isfile(staged) and sidecar_path(staged).is_file()):
        line = (f"error: {staged}: the packed job's result is gone; run it again: delete {outcomes} "
                "and rerun")
    else:
        _link_pair(staged, final)
        line = outcome.get("line", "").replace(staged, final)
    log = Path(layout.log(dataset, rel))
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"packed job: {batch_log} (outcomes: {outcomes})\n{line}\n", encoding="utf-8")
    if not line.startswith("done:"):
        raise DipbatchError(final, line.removeprefix("error: "))
    return line


def _link_pair(staged: str, final: str) -> None:
    """The staged image (hard-linked, or copied where links fail) and its sidecar, naming the final
    path, committed as one pair."""
    record = dict(read_sidecar(staged))
    record["output"] = final
    Path(final).parent.mkdir(parents=True, exist_ok=True)
    with atomic_paths(final, sidecar_path(final)) as (image, sidecar):
        image.unlink()
        try:
            os.link(staged, image)
        except OSError:  # another filesystem, or one without hard links
            with contextlib.suppress(FileNotFoundError):
                image.unlink()
            shutil.copyfile(staged, image)
        sidecar.write_bytes(sidecar_bytes(record))


def staged_outputs(layout: Layout, dataset: str, chunk: list[str]) -> str:
    """The -o options of a packed job: one staged output per image, in the order of its inputs."""
    return " ".join(f"-o {shlex.quote(layout.staged(dataset, chunk[0], rel))}" for rel in chunk)


def chunk_of(chunks: list[list[str]]) -> dict[str, str]:
    """Each image's chunk, by the chunk's first image."""
    return {rel: chunk[0] for chunk in chunks for rel in chunk}


def packed_files(layout: Layout, chunks: dict[str, list[list[str]]]) -> list[str]:
    """The files packed jobs write: each chunk's outcomes, and its staged images with their sidecars."""
    files = []
    for dataset, dataset_chunks in chunks.items():
        for chunk in dataset_chunks:
            files.append(layout.outcomes(dataset, chunk[0]))
            for rel in chunk:
                staged = layout.staged(dataset, chunk[0], rel)
                files += [staged, str(sidecar_path(staged))]
    return files
