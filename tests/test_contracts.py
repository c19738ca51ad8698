"""One definition per name: the workflow schema's enums and the CLI's choices are the code's constants."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from dipbatch.cli import main
from dipbatch.cli.errors import message
from dipbatch.errors import DipbatchError, FieldError
from dipbatch.fit.presets import DEVICE_PRESETS, PRESET_CHOICES, PRESET_NAMES, PRESETS
from dipbatch.fit.stopping import STOP_RULES
from dipbatch.fit.tiling import tile_starts
from dipbatch.io.sidecar import FORMAT, read_sidecar, sidecar_bytes, sidecar_path
from dipbatch.run.device import DEVICES
from dipbatch.run.ensembles import MEMORY_MB_PER_MPX
from dipbatch.tasks import TASKS
from dipbatch.temporal import METHODS

SCHEMA = yaml.safe_load((Path(__file__).parents[1] / "workflow/schemas/config.schema.yaml").read_text())
DATASET = SCHEMA["$defs"]["dataset"]["properties"]


def choices(command: str, flag: str) -> tuple[str, ...]:
    option = next(p for p in main.commands[command].params if flag in getattr(p, "opts", ()))
    assert isinstance(option.type, click.Choice)
    return tuple(option.type.choices)


def test_schema_enums_are_the_code_constants() -> None:
    assert tuple(SCHEMA["properties"]["device"]["enum"]) == DEVICES
    assert tuple(DATASET["task"]["enum"]) == TASKS
    assert tuple(DATASET["preset"]["enum"]) == PRESET_CHOICES
    assert DATASET["preset"]["default"] == "auto" and set(DEVICE_PRESETS) == set(DEVICES) - {"auto"}
    assert tuple(SCHEMA["properties"]["resources"]["properties"]) == PRESET_NAMES
    assert tuple(DATASET["temporal"]["properties"]["method"]["enum"]) == METHODS


def test_the_schemas_default_patterns_are_the_formats_suffixes() -> None:
    from dipbatch.io.discovery import DEFAULT_PATTERNS

    assert tuple(DATASET["patterns"]["default"]) == DEFAULT_PATTERNS


def test_the_ensembles_memory_budget_is_the_schemas_resources() -> None:
    resources = SCHEMA["properties"]["resources"]["properties"]
    assert {p: resources[p]["default"]["mem_mb_per_mpx"] for p in PRESET_NAMES} == MEMORY_MB_PER_MPX


def test_every_task_has_every_preset() -> None:
    assert tuple(PRESETS) == TASKS
    assert all(tuple(by_name) == PRESET_NAMES for by_name in PRESETS.values())


def test_cli_choices_are_the_code_constants() -> None:
    assert choices("restore", "--device") == DEVICES
    assert choices("restore", "--preset") == PRESET_CHOICES
    assert choices("restore", "--task") == TASKS
    assert choices("restore", "--stop") == STOP_RULES
    assert choices("temporal", "--method") == METHODS
    assert choices("temporal", "--device") == DEVICES


def test_library_errors_name_fields_and_the_cli_names_flags() -> None:
    try:
        tile_starts(500, 64, 80)
    except FieldError as exc:
        assert str(exc) == "tile_overlap 80: must be smaller than tile 64"
        assert message(exc) == "--tile-overlap 80: must be smaller than --tile 64"
    else:
        raise AssertionError("an overlap wider than the tile was accepted")


def test_an_untagged_sidecar_is_refused_naming_its_file(tmp_path: Path) -> None:
    sidecar_path(tmp_path / "new.png").write_bytes(sidecar_bytes({"task": "denoise"}))
    assert read_sidecar(tmp_path / "new.png") == {"format": FORMAT, "task": "denoise"}
    (tmp_path / "old.png.json").write_text(json.dumps({"task": "denoise"}))
    with pytest.raises(DipbatchError, match=r"old\.png\.json: not a dipbatch-sidecar-1 sidecar"):
        read_sidecar(tmp_path / "old.png")


def test_library_errors_cross_process_boundaries_whole() -> None:
    """A worker of --jobs sends its image's error back pickled: it must arrive as it left."""
    import pickle

    from dipbatch.errors import DipbatchError, FieldError

    plain = pickle.loads(pickle.dumps(DipbatchError("a.png", "truncated file")))
    assert (type(plain), plain.where, plain.problem) == (DipbatchError, "a.png", "truncated file")
    field = pickle.loads(pickle.dumps(FieldError("`tile` 8", "too small")))
    assert type(field) is FieldError and field.spelled(lambda n: f"--{n}") == ("--tile 8", "too small")
    in_file = pickle.loads(pickle.dumps(FieldError("w.pt", "not a weights file", in_file=True)))
    assert in_file.in_file and not field.in_file


LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.mark.parametrize(("path", "source", "contract"), [
    ("dipbatch/fit/sneaky.py", "import click\n", "click lives in the CLI alone"),
    ("dipbatch/io/upward.py", "from dipbatch.run import restore\n", "Layers"),
    ("dipbatch/newthing.py", "VALUE = 1\n", "Layers"),  # a new top-level module must take a layer
])
def test_the_contracts_cover_new_code_by_construction(tmp_path: Path, path: str, source: str,
                                                     contract: str) -> None:
    """A new module that imports click outside the CLI, reaches up a layer, or sits outside every
    layer breaks lint-imports (so CI), with no list of module names to keep by hand."""
    root = Path(__file__).parents[1]
    shutil.copytree(root / "dipbatch", tmp_path / "dipbatch", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(root / "pyproject.toml", tmp_path / "pyproject.toml")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    clean = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tmp_path, env=env, capture_output=True,
                           text=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    (tmp_path / path).write_text(source)
    broken = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tmp_path, env=env, capture_output=True,
                            text=True)
    assert broken.returncode != 0, broken.stdout
    assert contract in broken.stdout and "BROKEN" in broken.stdout


def test_the_public_entry_points_import_from_the_package_and_load_on_first_use() -> None:
    probe = ("import sys, dipbatch\nassert 'torch' not in sys.modules\n"
             "from dipbatch import RestoreOptions, read_image, restore_array, restore_files, write_image\n"
             "print(restore_array.__module__, read_image.__module__)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["dipbatch.run.restore", "dipbatch.io.images"]
