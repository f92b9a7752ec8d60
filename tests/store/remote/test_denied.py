"""A registry that refuses a logged-in user (403: may pull, may not push): the error carries the
registry's own words, so a missing login and a missing permission read differently."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from inferd.cli import main

from .proxy import Faults, fault_proxy
from .registry import Registry


def test_a_403_names_what_the_registry_said(
    open_registry: Registry, docker_config: Path, tmp_path: Path, model: Path
) -> None:
    faults = Faults(forbid=True)
    with fault_proxy(open_registry.host, faults) as proxy:
        result = CliRunner().invoke(
            main, ["push", str(model), f"{proxy}/team/fraud:v1", "--insecure-registry", proxy],
            env={"INFERD_HOME": str(tmp_path / "home")},
        )  # fmt: skip
    assert result.exit_code == 6, result.output
    assert result.output.splitlines()[-1] == (
        f"error: registry {proxy} refused access to manifest team/fraud:v1 (403 DENIED "
        f"requested access to the resource is denied); run `inferd login {proxy}`"
    )
