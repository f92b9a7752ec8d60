"""Commands load with their module: the map in ``_app`` names every command's module, help
still lists them all, and a command runs without the others' modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.cli._app import COMMAND_MODULES, COMMAND_SUMMARIES

CLI_DIR = Path(__file__).resolve().parents[2] / "src" / "inferd" / "cli"


def _fresh(code: str) -> str:
    """``code``'s stdout, run in a new interpreter (this one has imported every module)."""
    return subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout


def test_each_module_registers_exactly_the_commands_the_map_gives_it() -> None:
    modules = sorted(p.stem for p in CLI_DIR.glob("*_cmds.py"))
    assert sorted(set(COMMAND_MODULES.values())) == modules
    for module in modules:
        # A module may import another (store_cmds imports registry_cmds' options), so its own
        # commands are those the map gives it, among what importing it registered.
        registered = json.loads(
            _fresh(
                "import importlib, json; from inferd.cli import main; "
                f"importlib.import_module('inferd.cli.{module}'); "
                "print(json.dumps(sorted(main.commands)))"
            )
        )
        own = {name for name, owner in COMMAND_MODULES.items() if owner == module}
        assert own <= set(registered), module
        assert all(COMMAND_MODULES[name] != module for name in set(registered) - own)


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    listed = {
        line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()
    }
    assert listed == set(COMMAND_MODULES)


def test_a_command_loads_only_its_own_module() -> None:
    loaded = json.loads(
        _fresh(
            "import json, sys; from inferd.cli import main\n"
            "try:\n    main(['serve', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(sys.modules)))"
        ).splitlines()[-1]
    )
    assert [m for m in loaded if m.endswith("_cmds")] == ["inferd.cli.serve_cmds"]
    assert "rich" not in loaded  # tables and coloured errors: only when a command prints them


def test_store_commands_load_neither_numpy_nor_the_registry_client(tmp_path: Path) -> None:
    # ls, inspect, tag, rm, gc and history read the store's JSON: numpy (model formats, for
    # push) and httpx (login, and references that name a registry) cost them ~0.5 s each.
    loaded = json.loads(
        _fresh(
            "import json, os, sys; from inferd.cli import main\n"
            f"os.environ['INFERD_HOME'] = {str(tmp_path)!r}\n"
            "try:\n    main(['ls'])\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(sys.modules)))"
        ).splitlines()[-1]
    )
    assert "inferd.cli.store_cmds" in loaded
    assert not [m for m in loaded if m.split(".")[0] in ("numpy", "httpx")]


@pytest.mark.parametrize("width", [60, 80, 120])
def test_help_lists_each_command_as_its_own_help_says_without_loading_it(width: int) -> None:
    """``inferd --help`` loaded every command's module to read one line from each (0.7 s of
    CPU); it lists the summaries kept beside the map, which must say what each command says."""
    loaded = json.loads(
        _fresh(
            "import json, sys; from inferd.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(sys.modules)))"
        ).splitlines()[-1]
    )
    assert not [m for m in loaded if m.endswith("_cmds")]
    assert set(COMMAND_SUMMARIES) == set(COMMAND_MODULES)
    ctx = click.Context(main, terminal_width=width, max_content_width=width)
    lazy = click.HelpFormatter(width=width)
    main.format_commands(ctx, lazy)
    eager = click.HelpFormatter(width=width)
    click.Group.format_commands(main, ctx, eager)  # each command's own short help
    assert lazy.getvalue() == eager.getvalue()
