"""What the Snakemake workflow needs for `kind: sequence` datasets (pure functions, cheap at parse time).

- Sequences: the frames of a dataset grouped by folder, each in natural order.
- Warm-start chains: within a sequence, frame i starts from frame i−1's weights, in chunks of K
  frames, so that chunks still run in parallel.
- The options of each sequence's `dipbatch temporal` job, from the dataset's `temporal:` settings.
- The dataset's temporal table: one row per sequence, from each sequence's temporal.json.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dipbatch.io.discovery import discover
from dipbatch.io.filenames import natural_key
from dipbatch.io.results import write_table
from dipbatch.temporal.figures import RECORD, SEQUENCE_FIELDS
from dipbatch.temporal.video import VIDEO_SUFFIXES
from dipbatch.workflow.layout import Layout
from dipbatch.workflow.provisional import date_before_inputs
from dipbatch.workflow.summary import error_line

#: The dataset's temporal: settings that are options of `dipbatch temporal` (the rest: gpu).
TEMPORAL_OPTIONS = ("method", "epochs", "lr", "features", "radius", "tolerance")
#: The dataset's temporal: settings that are flags of `dipbatch temporal` (given when true).
TEMPORAL_FLAGS = ("irt", "fallback")

#: Columns of results/<dataset>/temporal.tsv, one row per sequence.
COLUMNS = ("sequence", "status", *SEQUENCE_FIELDS, "warnings", "error")


def sequence_name(folder: str, input_root: str) -> str:
    """A sequence is named by its folder under the dataset; frames at the top by the dataset's folder."""
    return folder or Path(input_root).name


def sequences(images: Sequence[str], input_root: str) -> dict[str, list[str]]:
    """The dataset's frames (relative paths) by sequence name, each list in natural order."""
    found: dict[str, list[str]] = {}
    for rel in images:
        folder = rel.rpartition("/")[0]
        found.setdefault(sequence_name(folder, input_root), []).append(rel)
    return {name: sorted(frames, key=natural_key) for name, frames in sorted(found.items())}


def sequence_folder(frames: Sequence[str]) -> str:
    """The folder (relative to the dataset) that holds a sequence's frames; '' at the top."""
    return frames[0].rpartition("/")[0]


def chain_links(frames: Sequence[str], chunk: int) -> dict[str, str]:
    """For each frame that is not first in its chunk of `chunk` frames: the frame it starts from."""
    return {frames[i]: frames[i - 1] for i in range(1, len(frames)) if i % chunk}


def sequence_row(name: str, folder: Path, log: Path) -> dict[str, Any]:
    """One row of the dataset's temporal table, from the sequence's record or, failing that, its log."""
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"sequence": name, "status": "failed" if log.exists() else "missing",
                "error": error_line(log)}
    return {"sequence": name, "status": "ok", **{k: record.get(k) for k in SEQUENCE_FIELDS},
            "warnings": record.get("warnings", [])}


def write_temporal_table(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """results/<dataset>/temporal.tsv, atomically."""
    write_table(path, COLUMNS, rows)


@dataclass
class SequenceWorkflow:
    """The temporal rules' paths, inputs and options, for every `kind: sequence` dataset.

    ``input_path(dataset, rel)`` is the workflow's own map from a frame to its input file.
    """

    layout: Layout
    datasets: Mapping[str, Mapping[str, Any]]
    images: Mapping[str, Sequence[str]]
    device: str
    input_path: Callable[[str, str], str]
    sequences: dict[str, dict[str, list[str]]] = field(init=False)  # folders of frames
    videos: dict[str, list[str]] = field(init=False)  # video files (relative paths), per dataset
    links: dict[str, dict[str, str]] = field(init=False)  # warm start: frame -> frame it starts from

    def __post_init__(self) -> None:
        self.sequences = {name: sequences(self.images[name], ds["input"])
                          for name, ds in self.datasets.items() if ds.get("kind") == "sequence"}
        self.videos = {name: discover(self.datasets[name]["input"], [f"*{s}" for s in VIDEO_SUFFIXES])
                       for name in self.sequences}
        self.links = {name: {frame: previous for frames in self.sequences[name].values()
                             for frame, previous in chain_links(frames, ds.get("warm_chunk", 8)).items()}
                      for name, ds in self.datasets.items()
                      if name in self.sequences and ds.get("warm_start", True)}  # RESULTS.md: warm start

    # ---- targets ---------------------------------------------------------------------------------
    def targets(self) -> list[str]:
        return [self.layout.temporal_table(name) for name in self.sequences]

    def planned(self) -> tuple[list[str], list[str]]:
        """The folders and files the sequences' jobs write (for the check that keeps them apart
        from the inputs): consistent and decoded folders, and the temporal logs."""
        folders, files = [], []
        for name in self.sequences:
            folders += [self.layout.consistent(name, s) for s in self.names(name)]
            folders += [self.layout.decoded(name, v) for v in self.videos[name]]
            files += [self.layout.temporal_log(name, s) for s in self.names(name)]
        return folders, files

    def names(self, dataset: str) -> list[str]:
        """Every sequence of a dataset: its folders of frames, then its videos."""
        return [*self.sequences[dataset], *self.videos[dataset]]

    def warm_datasets_regex(self) -> str:
        """Matches the names of the datasets with warm_start, and nothing else."""
        return "|".join(re.escape(name) for name in self.links) or "(?!)"

    # ---- rule temporal ---------------------------------------------------------------------------
    def temporal_input(self, dataset: str, sequence: str, checkpoints: Any) -> dict[str, list[str]]:
        """The input frames (or video) and the restored frames; a video's come from its checkpoint."""
        if sequence in self.videos[dataset]:
            folder = Path(checkpoints.extract_frames.get(dataset=dataset, video=sequence).output[0])
            frames = [f"{sequence}/{p.name}" for p in sorted(folder.glob("frame_*.png"))]
            return {"video": [self.input_path(dataset, sequence)],
                    "restored": [self.layout.image(dataset, rel) for rel in frames]}
        frames = self.sequences[dataset][sequence]
        return {"frames": [self.input_path(dataset, rel) for rel in frames],
                "restored": [self.layout.image(dataset, rel) for rel in frames]}

    def source(self, dataset: str, sequence: str) -> str:
        if sequence in self.videos[dataset]:
            return self.input_path(dataset, sequence)
        return self.input_path(dataset, sequence_folder(self.sequences[dataset][sequence]))

    def restored(self, dataset: str, sequence: str) -> str:
        if sequence in self.videos[dataset]:
            return self.layout.image(dataset, sequence)
        return self.layout.image(dataset, sequence_folder(self.sequences[dataset][sequence]))

    # ---- video files: checkpoint extract_frames, rule restore_video --------------------------------
    def video_datasets_regex(self) -> str:
        return "|".join(re.escape(name) for name, videos in self.videos.items() if videos) or "(?!)"

    def videos_regex(self) -> str:
        """Matches the relative paths of the datasets' videos, and nothing else."""
        videos = sorted({re.escape(v) for names in self.videos.values() for v in names})
        return "|".join(videos) or "(?!)"

    def video_frames_regex(self) -> str:
        """Matches `<video>/frame_NNNNNN.png`, the restored frames of the datasets' videos."""
        return f"(?:{self.videos_regex()})/frame_[0-9]{{6}}\\.png"

    def video_frame_input(self, dataset: str, rel: str, decoded: Any) -> dict[str, str]:
        """A video frame's restore input: the frame as extract_frames wrote it."""
        video, _, frame = rel.rpartition("/")
        return {"image": f"{decoded.get(dataset=dataset, video=video).output[0]}/{frame}"}

    def temporal_args(self, dataset: str) -> str:
        """The dataset's temporal: settings as options of `dipbatch temporal`, shell-quoted."""
        settings = self.datasets[dataset].get("temporal", {})
        args = ["--device", self.device]
        for key in TEMPORAL_OPTIONS:
            if key in settings:
                args += [f"--{key}", str(settings[key])]
        args += [f"--{key}" for key in TEMPORAL_FLAGS if settings.get(key)]
        return shlex.join(args)

    def gpu(self, dataset: str) -> int:
        return int(self.datasets[dataset].get("temporal", {}).get("gpu", 0))

    # ---- rule temporal_table ---------------------------------------------------------------------
    def write_table(self, dataset: str, log: str) -> None:
        layout, table = self.layout, self.layout.temporal_table(dataset)
        rows = [sequence_row(name, Path(layout.consistent(dataset, name)),
                             Path(layout.temporal_log(dataset, name))) for name in self.names(dataset)]
        write_temporal_table(Path(table), rows)
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        Path(log).write_text(f"{table}: {len(rows)} sequences\n", encoding="utf-8")

    def tables_after_error(self) -> list[str]:
        """For onerror: a provisional table for every sequence dataset that started; never raises."""
        messages = []
        for dataset in self.sequences:
            logs = [self.layout.temporal_log(dataset, n) for n in self.names(dataset)]
            logs += [self.layout.decode_log(dataset, v) for v in self.videos[dataset]]
            if not any(Path(log).exists() for log in logs):
                continue
            table = self.layout.temporal_table(dataset)
            try:
                self.write_table(dataset, self.layout.temporal_table_log(dataset))
                date_before_inputs(table, [self.layout.consistent(dataset, n) for n in self.names(dataset)])
            except Exception as exc:  # the handler must not mask the run's own error
                messages.append(f"dipbatch: could not write {table}: {exc}")
                continue
            messages.append(f"dipbatch: {table} written from what is on disk")
        return messages

    # ---- rule restore_warm -----------------------------------------------------------------------
    def warm_input(self, dataset: str, rel: str, files: dict[str, str]) -> dict[str, str]:
        """The restore rule's inputs, plus the weights of the frame this one starts from."""
        previous = self.links[dataset].get(rel)
        return files if previous is None else {**files, "weights": self.layout.weights(dataset, previous)}

    def warm_args(self, dataset: str, args: str, weights_in: str | None, weights_out: str) -> str:
        """The restore options, plus the weights to save and to start from (with warm_iterations)."""
        extra = ["--save-weights", weights_out]
        if weights_in is not None:
            extra += ["--init-weights", weights_in]
            iterations = self.datasets[dataset].get("warm_iterations")
            if iterations:
                extra += ["--iterations", str(iterations)]
        return f"{args} {shlex.join(extra)}"
