"""Find the images of a dataset folder, and cut them into the chunks of packed jobs.

The Snakefile imports this module at parse time, so it must stay cheap: it lists directories and
never opens an image. Paths are handled as POSIX strings relative to the dataset folder; the same
relative path names the restored image under ``results/<dataset>/``, its log and its benchmark
(``dipbatch.workflow.layout``).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dipbatch.errors import DipbatchError
from dipbatch.io.discovery import DEFAULT_PATTERNS, discover, is_inside
from dipbatch.io.filenames import is_skipped, natural_key
from dipbatch.io.images import IMAGE_SUFFIXES, has_image_suffix
from dipbatch.tasks import task_record
from dipbatch.workflow.layout import RESERVED_IN_DATASET

__all__ = ["DEFAULT_PATTERNS", "IMAGE_PATH_REGEX", "IMAGE_SUFFIXES", "dataset_images", "discover",
           "is_inside", "is_skipped", "mask_for", "mask_regex", "natural_key", "pack", "refused_files",
           "unsupported"]

#: Default name of an inpainting mask, beside its image: ``photo.png`` → ``photo_mask.png``.
DEFAULT_MASK_TEMPLATE = "{stem}_mask.png"

#: A regular expression for a relative path whose suffix dipbatch can write (Snakemake uses it
#: as the wildcard constraint of the restored image, so that ``summary.tsv`` never matches).
IMAGE_PATH_REGEX = r"[^/].*\.(?i:" + "|".join(re.escape(s[1:]) for s in IMAGE_SUFFIXES) + ")"


def mask_regex(template: str) -> re.Pattern:
    """A regex that matches the file names the mask template can produce (any stem)."""
    if "{stem}" not in template:
        raise DipbatchError("mask", f"template {template!r} must contain '{{stem}}'")
    before, _, after = template.partition("{stem}")
    return re.compile(re.escape(before) + ".+" + re.escape(after) + r"\Z", re.IGNORECASE)


def mask_for(relpath: str, template: str = DEFAULT_MASK_TEMPLATE) -> str:
    """The relative path of the mask that belongs to the image at ``relpath``."""
    head, _, name = relpath.rpartition("/")
    suffix = max((s for s in IMAGE_SUFFIXES if name.lower().endswith(s)), key=len, default="")
    stem = name[: len(name) - len(suffix)] if suffix else name.rsplit(".", 1)[0]
    mask = template.format(stem=stem)
    return f"{head}/{mask}" if head else mask


#: What Snakemake reads as a path variable (``<name>``, snakemake.pathvars) or a wildcard (braces),
#: or cannot match with a wildcard (a line break): a file name holding one cannot be a rule's file.
_UNCARRIED = re.compile(r"<[a-z][a-z0-9_]*>|[{}\n\r]")


def refusal(root: str | Path, relpath: str) -> str | None:
    """Why the workflow cannot restore this discovered file, as its summary's error line; None if
    it can. Each such file fails alone: the other images of its dataset go on."""
    path = os.path.join(root, relpath)
    shown = path.replace("\n", "\\n").replace("\r", "\\r")  # one line, like every error
    if not os.path.exists(path):
        return f"error: {shown}: dangling symbolic link (to {os.readlink(path)}, which does not exist)"
    found = _UNCARRIED.search(relpath)
    if found:
        return (f"error: {shown}: Snakemake cannot carry a file name holding {found.group()!r} "
                "(a path variable, a wildcard or a line break); rename the file")
    top, _, rest = relpath.partition("/")
    if rest and top.lower() in RESERVED_IN_DATASET:
        return (f"error: {shown}: its folder {top!r} has the name of a file the workflow writes in the "
                "dataset's results folder; rename the folder")
    return None


def unsupported(paths: Iterable[str]) -> list[str]:
    """The paths whose suffix dipbatch cannot read."""
    return [p for p in paths if not has_image_suffix(p)]


def dataset_images(name: str, dataset: Mapping[str, Any]) -> list[str]:
    """The relative paths of a (validated) configuration dataset's files, in natural order; a
    DipbatchError names the key of a setting that cannot work."""
    masks_beside = task_record(dataset["task"]).side_input == "mask" and "mask_dir" not in dataset
    exclude = [mask_regex(dataset["mask"])] if masks_beside else []
    if "{stem}" in dataset.get("psf", ""):  # a PSF beside each image is not an image to restore
        exclude.append(mask_regex(dataset["psf"]))
    if "mask_dir" in dataset and is_inside(dataset["mask_dir"], dataset["input"]):
        raise DipbatchError(f"datasets.{name}.mask_dir", f"{dataset['mask_dir']!r} is inside the input "
                            "folder, so its masks would be restored as images; move it out")
    images = discover(dataset["input"], dataset["patterns"], exclude=exclude)
    bad = unsupported(images)
    if bad:
        raise DipbatchError(f"datasets.{name}.patterns",
                            f"they select {bad[0]!r}, which dipbatch cannot read")
    return images


def refused_files(root: str | Path, images: Iterable[str]) -> dict[str, str]:
    """The discovered files the workflow cannot restore, each with its error (`refusal`)."""
    errors = {rel: refusal(root, rel) for rel in images}
    return {rel: error for rel, error in errors.items() if error}


def pack(images: Sequence[str], size: int) -> list[list[str]]:
    """Split `images` (kept in order) into chunks of about `size`, for jobs that fit several at once.

    From `size` / 2 images on, a chunk ends after an image whose path hashes to 0 modulo
    `size` - `size` / 2 + 1 (so after `size` images on average), and at 2 × `size` images at
    most. The cuts follow the names, not the positions: adding or removing an image changes only
    the chunk it falls in (now and then the next too), so a rerun redoes only those.
    """
    shortest = max(1, size // 2)
    modulus = size - shortest + 1
    chunks: list[list[str]] = [[]]
    for rel in images:
        chunk = chunks[-1]
        chunk.append(rel)
        digest = int.from_bytes(hashlib.blake2b(rel.encode(), digest_size=4).digest(), "big")
        if (len(chunk) >= shortest and digest % modulus == 0) or len(chunk) == 2 * size:
            chunks.append([])
    return [chunk for chunk in chunks if chunk]
