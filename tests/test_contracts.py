"""One definition per name: the workflow schema's enums and the CLI's choices are the code's constants."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from dipbatch.cli import main
from dipbatch.device import DEVICES
from dipbatch.presets import PRESET_NAMES, PRESETS
from dipbatch.stopping import STOP_RULES
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
    assert tuple(DATASET["preset"]["enum"]) == PRESET_NAMES
    assert tuple(SCHEMA["properties"]["resources"]["properties"]) == PRESET_NAMES
    assert tuple(DATASET["temporal"]["properties"]["method"]["enum"]) == METHODS


def test_every_task_has_every_preset() -> None:
    assert tuple(PRESETS) == TASKS
    assert all(tuple(by_name) == PRESET_NAMES for by_name in PRESETS.values())


def test_cli_choices_are_the_code_constants() -> None:
    assert choices("restore", "--device") == DEVICES
    assert choices("restore", "--preset") == PRESET_NAMES
    assert choices("restore", "--task") == TASKS
    assert choices("restore", "--stop") == STOP_RULES
    assert choices("temporal", "--method") == METHODS
    assert choices("temporal", "--device") == DEVICES


def test_library_errors_name_fields_and_the_cli_names_flags() -> None:
    from dipbatch.cli.errors import message
    from dipbatch.errors import FieldError
    from dipbatch.tiling import tile_starts

    try:
        tile_starts(500, 64, 80)
    except FieldError as exc:
        assert str(exc) == "tile_overlap 80: must be smaller than tile 64"
        assert message(exc) == "--tile-overlap 80: must be smaller than --tile 64"
    else:
        raise AssertionError("an overlap wider than the tile was accepted")


def test_an_untagged_sidecar_is_refused_naming_its_file(tmp_path: Path) -> None:
    import json

    import pytest

    from dipbatch.errors import DipbatchError
    from dipbatch.sidecar import FORMAT, read_sidecar, sidecar_bytes, sidecar_path

    sidecar_path(tmp_path / "new.png").write_bytes(sidecar_bytes({"task": "denoise"}))
    assert read_sidecar(tmp_path / "new.png") == {"format": FORMAT, "task": "denoise"}
    (tmp_path / "old.png.json").write_text(json.dumps({"task": "denoise"}))
    with pytest.raises(DipbatchError, match=r"old\.png\.json: not a dipbatch-sidecar-1 sidecar"):
        read_sidecar(tmp_path / "old.png")
