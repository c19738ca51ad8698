"""Where the workflow puts every file it makes: the one path layout of the rules and their helpers.

Every method accepts Snakemake wildcard names too: ``Layout().image("{dataset}", "{path}")`` gives a
rule's output pattern, so the Snakefile, the summary, the temporal tables and the reports agree by
construction.
"""

from __future__ import annotations

from dataclasses import dataclass

from dipbatch.io.results import CONSISTENT, DECODED, INDEX, PACKED, REPORT, SUMMARY, TEMPORAL_TABLE
from dipbatch.io.sidecar import sidecar_path

#: Names the workflow writes beside the datasets' folders (results/index.html, logs/index.log): no
#: dataset may take one (the schema refuses them; a test ties the two lists).
RESERVED_DATASET_NAMES: tuple[str, ...] = (INDEX, "index.log")
#: Names the workflow writes at the top of a dataset's results folder: an input subfolder of one of
#: these names would collide with them, so its images fail alone (discovery.refusal).
RESERVED_IN_DATASET: tuple[str, ...] = (SUMMARY, REPORT, TEMPORAL_TABLE, CONSISTENT, DECODED)


@dataclass(frozen=True)
class Layout:
    """The results and logs folders, and the files of each dataset, image and sequence in them."""

    results: str = "results"
    logs: str = "logs"

    # ---- one image ----------------------------------------------------------------------------
    def image(self, dataset: str, relpath: str) -> str:
        return f"{self.results}/{dataset}/{relpath}"

    def sidecar(self, dataset: str, relpath: str) -> str:
        return str(sidecar_path(self.image(dataset, relpath)))

    def log(self, dataset: str, relpath: str) -> str:
        return f"{self.logs}/{dataset}/restore/{relpath}.log"

    def benchmark(self, dataset: str, relpath: str) -> str:
        return f"{self.logs}/{dataset}/benchmark/{relpath}.tsv"

    def batch_log(self, dataset: str, first: str) -> str:
        """The log of a packed job, named by its chunk's first image; each image's log is a copy."""
        return f"{self.logs}/{dataset}/restore_batch/{first}.log"

    def batch_benchmark(self, dataset: str, first: str) -> str:
        return f"{self.logs}/{dataset}/benchmark_batch/{first}.tsv"

    def staged(self, dataset: str, first: str, relpath: str) -> str:
        """Where a packed job (named by its chunk's first image) writes an image, before the image's
        own job puts it in place: a failed chunk-mate then never costs a good image its output."""
        return f"{self.dataset(dataset)}/{PACKED}/{first}/{relpath}"

    def outcomes(self, dataset: str, first: str) -> str:
        """A packed job's output: every image's outcome (`dipbatch restore --outcomes`)."""
        return f"{self.dataset(dataset)}/{PACKED}/{first}.outcomes.json"

    def weights(self, dataset: str, relpath: str) -> str:
        """A frame's final generator weights, for the next frame's warm start."""
        return f"{self.image(dataset, relpath)}.weights.pt"

    # ---- the whole run ----------------------------------------------------------------------------
    def index(self) -> str:
        """The page that links every dataset's report."""
        return f"{self.results}/{INDEX}"

    def index_log(self) -> str:
        return f"{self.logs}/index.log"

    # ---- one dataset ----------------------------------------------------------------------------
    def dataset(self, dataset: str) -> str:
        return f"{self.results}/{dataset}"

    def summary(self, dataset: str) -> str:
        return f"{self.dataset(dataset)}/{SUMMARY}"

    def summary_log(self, dataset: str) -> str:
        return f"{self.logs}/{dataset}/summary.log"

    def report(self, dataset: str) -> str:
        return f"{self.dataset(dataset)}/{REPORT}"

    def report_log(self, dataset: str) -> str:
        return f"{self.logs}/{dataset}/report.log"

    # ---- sequences ------------------------------------------------------------------------------
    def consistent(self, dataset: str, sequence: str) -> str:
        return f"{self.dataset(dataset)}/{CONSISTENT}/{sequence}"

    def temporal_table(self, dataset: str) -> str:
        return f"{self.dataset(dataset)}/{TEMPORAL_TABLE}"

    def temporal_log(self, dataset: str, sequence: str) -> str:
        return f"{self.logs}/{dataset}/temporal/{sequence}.log"

    def temporal_table_log(self, dataset: str) -> str:
        return f"{self.logs}/{dataset}/temporal.log"

    def decoded(self, dataset: str, video: str) -> str:
        """The frames of a video, as extract-frames wrote them."""
        return f"{self.dataset(dataset)}/{DECODED}/{video}"

    def decode_log(self, dataset: str, video: str) -> str:
        return f"{self.logs}/{dataset}/{DECODED}/{video}.log"
