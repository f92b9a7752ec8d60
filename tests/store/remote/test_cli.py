"""The store commands with remote references: push, pull, tag, ls, inspect, rm, with --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.store import ModelStore

from ..conftest import EXAMPLES
from .registry import Registry

ONNX_V1 = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"


def _run(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    document: dict[str, object] = json.loads(result.output)
    return document


def test_push_pull_tag_inspect_round_trip_in_json(
    open_registry: Registry, docker_config: Path, inferd_home: Path, model: Path, repo: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    flag = ["--insecure-registry", open_registry.host]
    pushed = _run("push", str(model), f"{repo}:v1", "--json", *flag)
    transfer = pushed["transfer"]
    assert isinstance(transfer, dict)
    assert (transfer["blobs"], transfer["transferred"]) == (5, 5)

    pulled = _run("pull", f"{repo}:v1", str(tmp_path / "out"), "--json", *flag)
    assert pulled["digest"] == pushed["digest"]
    assert (tmp_path / "out" / "model.bin").read_bytes() == (model / "model.bin").read_bytes()
    assert pulled["transfer"] == {
        "blobs": 5, "transferred": 0, "skipped": 5, "mounted": 0, "bytes": 0,
    }  # fmt: skip

    tagged = _run("tag", f"{repo}:v1", f"{repo}:prod", "--json", *flag)
    assert tagged["digest"] == pushed["digest"]
    card = _run("inspect", f"{repo}:prod", "--json", *flag)
    assert card["digest"] == pushed["digest"]
    assert isinstance(card["card"], dict) and card["card"]["runtime"] == "sklearn"

    listing = CliRunner().invoke(main, ["ls", repo, "--json", *flag])
    assert [row["tag"] for row in json.loads(listing.output)] == ["prod", "v1"]
    # The local cache holds one record per remote tag used, none per digest.
    records = sorted(key for key, _ in ModelStore(inferd_home).layout.read_index().cached())
    assert records == [f"{repo}:prod", f"{repo}:v1"]


def test_remote_errors_are_one_line_with_an_exit_status(
    open_registry: Registry, docker_config: Path, inferd_home: Path, repo: str
) -> None:
    flag = ["--insecure-registry", open_registry.host]
    missing = CliRunner().invoke(main, ["inspect", f"{repo}:nope", *flag])
    assert missing.exit_code == 3
    assert missing.stderr == f"error: {repo}:nope not found in the registry\n"
    by_digest = f"{repo}@sha256:{'0' * 64}"  # written with '@', as the user wrote it
    unknown = CliRunner().invoke(main, ["pull", by_digest, "out", *flag])
    assert (unknown.exit_code, unknown.stderr) == (
        3,
        f"error: {by_digest} not found in the registry\n",
    )
    untag = CliRunner().invoke(main, ["rm", f"{repo}:v1"])
    assert untag.exit_code == 10  # Unsupported (docs/cli.md)
    assert "registries delete manifests" in untag.output
    closed = CliRunner().invoke(
        main, ["inspect", "127.0.0.1:9/team/fraud:v1", "--insecure-registry", "127.0.0.1:9"]
    )
    assert closed.exit_code == 7
    assert "registry 127.0.0.1:9 is unreachable" in closed.output
    assert "Traceback" not in closed.output


def test_pull_by_a_local_tag_of_a_version_pulled_under_another_name(
    open_registry: Registry, docker_config: Path, inferd_home: Path, repo: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The quickstart's card names ``fraud``; uploaded as ``host/t…/fraud`` and tagged back
    locally as ``t…/fraud:v1``, that tag pulls as ls, inspect and serve take it."""
    flag = ["--insecure-registry", open_registry.host]
    pushed = _run("push", str(ONNX_V1), "fraud:v1", "--json")
    _run("tag", "fraud:v1", f"{repo}:v1", "--json", *flag)
    fresh = tmp_path / "fresh-home"
    fresh.mkdir()
    monkeypatch.setenv("INFERD_HOME", str(fresh))
    name = repo.split("/", 1)[1]
    _run("tag", f"{repo}:v1", f"{name}:v1", "--json", *flag)

    pulled = _run("pull", f"{name}:v1", str(tmp_path / "out"), "--json")
    assert pulled["digest"] == pushed["digest"]
    assert (tmp_path / "out" / "model.onnx").read_bytes() == ONNX_V1.read_bytes()


@pytest.mark.parametrize(
    ("env", "flags", "message"),
    [
        *[
            (
                {"INFERD_MAX_BLOB_BYTES": value},
                [],
                f"error: INFERD_MAX_BLOB_BYTES={value!r} is not a positive whole number of bytes "
                "(without a unit, e.g. 10737418240 for 10 GiB; unset, the cap is 128 GiB)",
            )
            for value in ["10G", "abc", "0", "1_000"]
        ],
        (
            {"INFERD_REGISTRY_CA": "/nonexistent"},
            [],
            "error: the registry CA bundle '/nonexistent' (--ca-file, INFERD_REGISTRY_CA) cannot "
            "be read: No such file or directory",
        ),
        (
            {},
            ["--ca-file", "/etc/passwd"],
            "error: the registry CA bundle '/etc/passwd' (--ca-file, INFERD_REGISTRY_CA) is not a "
            "PEM file of certificates (NO_CERTIFICATE_OR_CRL_FOUND)",
        ),
    ],
    ids=["10G", "abc", "0", "underscores", "missing-ca", "not-pem-ca"],
)
def test_a_bad_registry_setting_is_one_line_and_exit_2(
    docker_config: Path, inferd_home: Path, monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str], flags: list[str], message: str,
) -> None:  # fmt: skip
    """Named with what is wrong before any connection (nothing listens on port 9)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for command in (["ls", "127.0.0.1:9/risk/fraud"], ["pull", "127.0.0.1:9/risk/fraud:v1", "o"]):
        result = CliRunner().invoke(main, [*command, *flags])
        assert (result.exit_code, result.stderr.splitlines()) == (2, [message]), result.output
