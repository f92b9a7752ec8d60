"""Failures a tester found as tracebacks or wrong exit statuses: each is one ``error:`` line
and the status docs/cli.md gives its class (2 bad input, 5 data loss), and ``inferd ls`` of a
store with one damaged version lists the rest."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from inferd.cli import main

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


def run(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    # catch_exceptions=False: an exception the CLI lets through fails the test with its traceback.
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


def one_error(result: Result, status: int) -> str:
    """The single ``error:`` line of a failed command (nothing else on stderr)."""
    assert result.exit_code == status, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def pushed(inferd_home: Path) -> dict[str, str]:
    """``fraud:v1`` and ``fraud:v2`` of the quickstart, by tag: their manifest digests."""
    digests = {}
    for tag in ("v1", "v2"):
        result = run("push", QUICKSTART / f"fraud-{tag}", f"fraud:{tag}", "-q")
        assert result.exit_code == 0, result.output
        digests[tag] = result.stdout.strip()
    return digests


def test_a_pull_destination_that_cannot_be_created_is_bad_input(
    pushed: dict[str, str], tmp_path: Path
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    line = one_error(run("pull", "fraud:v1", afile / "sub"), 2)
    assert (
        line == f"error: cannot create the destination '{afile}/sub': '{afile}' is not a directory"
    )


def test_a_source_date_beyond_the_year_9999_is_bad_input(inferd_home: Path) -> None:
    model = QUICKSTART / "fraud-v1"
    for value in ("99999999999999999", "253402300800", "9" * 5000):
        line = one_error(run("push", model, "fraud:v1", env={"SOURCE_DATE_EPOCH": value}), 2)
        assert f"SOURCE_DATE_EPOCH='{value}' is out of range (at most 253402300799" in line
    last = run("push", model, "fraud:v1", "--json", env={"SOURCE_DATE_EPOCH": "253402300799"})
    assert last.exit_code == 0, last.output
    card = json.loads(run("inspect", "fraud:v1", "--json").stdout)["card"]
    assert card["created"] == "9999-12-31T23:59:59Z"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"limits: [\n", "not valid YAML at line 2, column 1: expected the node content"),
        (b"port: 1\nlimits: {a: 1\n", "not valid YAML at line 3, column 1: expected ',' or '}'"),
        (b"\xff\xfe", "not UTF-8 text (byte 0)"),
        (b"port: 1\n\x01", "not valid YAML at character 9: special characters are not allowed"),
        (b"- port: 1\n", "expected a mapping at the top"),
    ],
)
def test_a_settings_file_that_cannot_be_read_is_bad_input_naming_it(
    inferd_home: Path, tmp_path: Path, content: bytes, problem: str
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_bytes(content)
    line = one_error(run("serve", "fraud:v1", "--config", config), 2)
    assert line.startswith(f"error: config file '{config}': {problem}"), line


@pytest.mark.parametrize("command", [["ls"], ["push", QUICKSTART / "fraud-v1", "fraud:v1"]])
def test_an_inferd_home_that_is_a_file_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str | Path]
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    monkeypatch.setenv("INFERD_HOME", str(afile))
    assert one_error(run(*command), 2) == f"error: INFERD_HOME '{afile}' is not a directory"
    assert afile.read_text() == "x"


@pytest.mark.parametrize(
    "command",
    [
        ["push", QUICKSTART / "fraud-v1", "fraud:v1"],
        ["serve", "fraud:v1", "--port", "0"],
        ["up", QUICKSTART / "inferd.yaml"],
    ],
    ids=["push", "serve", "up"],
)
def test_an_inferd_home_that_cannot_be_created_is_bad_input(
    monkeypatch: pytest.MonkeyPatch, command: list[str | Path]
) -> None:
    """A directory path no mkdir can create (procfs refuses any): serve and up wrote their
    token or state file first and failed with a FileNotFoundError traceback."""
    monkeypatch.setenv("INFERD_HOME", "/proc/inferd-nope")
    line = one_error(run(*command), 2)
    assert "'/proc/inferd-nope" in line and "cannot be created" in line, line


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (["k8s", "render", QUICKSTART / "inferd.yaml", "-o", "{d}/afile/sub"],
         "'{d}/afile/sub': "),
        (["k8s", "rules", QUICKSTART / "inferd.yaml", "-o", "{d}/afile/r.yaml"],
         "'{d}/afile/r.yaml': "),
        (["keys", "create", "ci", "--keys-file", "{d}/afile/keys.json"],
         "keys file {d}/afile/keys.json: cannot create its directory {d}/afile "),
    ],
    ids=["k8s render -o", "k8s rules -o", "keys --keys-file"],
)  # fmt: skip
def test_an_output_path_that_cannot_be_written_is_bad_input(
    inferd_home: Path, tmp_path: Path, command: list[str | Path], shown: str
) -> None:
    """Write commands given a path under a regular file ended in an OSError traceback."""
    (tmp_path / "afile").write_text("x")
    argv = [str(a).replace("{d}", str(tmp_path)) for a in command]
    result = run(*argv)
    assert result.exit_code == 2, result.output
    line = result.stderr.strip().splitlines()[-1]  # (render's notes come first)
    assert "Traceback" not in result.stderr
    assert line.startswith(f"error: {shown.replace('{d}', str(tmp_path))}"), line
    assert "directory" in line.lower(), line


def test_a_missing_entrypoint_is_bad_metadata(inferd_home: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(QUICKSTART / "fraud-v1", model)
    (model / "inferd.model.yaml").write_text("entrypoint: nosuch.onnx\n")
    line = one_error(run("push", model, "fraud:v1"), 2)
    assert line == "error: inferd.model.yaml: entrypoint 'nosuch.onnx' is not a file in the model"


def test_a_corrupt_index_is_data_loss(pushed: dict[str, str], inferd_home: Path) -> None:
    (inferd_home / "store" / "index.json").write_text("{\n")
    for command in (["ls"], ["inspect", "fraud:v1"], ["gc"]):
        line = one_error(run(*command), 5)
        assert line == "error: index.json of the store is damaged: it is not JSON"


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("mediaType", None, "mediaType is missing"),
        ("digest", "sha256:nothex", "digest is not a sha256 digest"),
        ("size", -1, "size is not a non-negative integer"),
        ("annotations", {"ref": 1}, "annotations must map strings to strings"),
    ],
    ids=["no-media-type", "bad-digest", "bad-size", "bad-annotations"],
)
def test_an_index_entry_that_is_no_descriptor_is_data_loss_for_every_command(
    pushed: dict[str, str], inferd_home: Path, tmp_path: Path,
    field: str, value: object, problem: str,
) -> None:  # fmt: skip
    """An entry the OCI spec does not allow damages the index (docs/store.md): ls, inspect and
    push took it while gc answered 10 (unsupported); every command is 5 now, gc deleting
    nothing."""
    index_file = inferd_home / "store" / "index.json"
    document = json.loads(index_file.read_text())
    entry = document["manifests"][1]
    if value is None:
        del entry[field]
    else:
        entry[field] = value
    index_file.write_text(json.dumps(document))
    blobs = sorted((inferd_home / "store" / "blobs" / "sha256").iterdir())
    commands = [
        ["ls"], ["inspect", "fraud:v1"], ["push", QUICKSTART / "fraud-v2", "fraud:v3"],
        ["pull", "fraud:v1", tmp_path / "out"], ["tag", "fraud:v1", "fraud:prod"],
        ["rm", "fraud:v1"], ["gc"], ["gc", "--max-size", "1"],
    ]  # fmt: skip
    for command in commands:
        line = one_error(run(*command), 5)
        assert line == f"error: index.json of the store is damaged: entry 1: {problem}", command
    assert sorted((inferd_home / "store" / "blobs" / "sha256").iterdir()) == blobs


def test_ls_lists_a_damaged_version_beside_the_healthy_ones(
    pushed: dict[str, str], inferd_home: Path
) -> None:
    v1 = pushed["v1"]
    os.unlink(inferd_home / "store" / "blobs" / "sha256" / v1.removeprefix("sha256:"))

    listed = run("ls")
    assert listed.exit_code == 0, listed.output
    rows = [line.split() for line in listed.stdout.strip().splitlines()]
    assert rows[0] == ["NAME", "TAG", "DIGEST", "RUNTIME", "SIZE", "CREATED"]
    assert rows[1][:5] == ["fraud", "v1", v1[7:19], "-", "-"]
    size = sum(f.stat().st_size for f in (QUICKSTART / "fraud-v2").iterdir())
    assert rows[2][:6] == ["fraud", "v2", pushed["v2"][7:19], "onnx", str(size), "B"]
    assert listed.stderr == (
        f"warning: fraud:v1 is damaged (blob {v1} not found); remove it with "
        "`inferd rm fraud:v1` or push it again\n"
    )

    as_json = run("ls", "fraud", "--json")
    assert as_json.exit_code == 0
    broken, healthy = json.loads(as_json.stdout)
    assert broken["error"] == f"blob {v1} not found"
    assert (broken["tag"], broken["runtime"], broken["size"]) == ("v1", "", None)
    assert (healthy["tag"], healthy["runtime"], healthy["error"]) == ("v2", "onnx", None)

    assert run("rm", "fraud:v1").exit_code == 0  # the way out the warning names
    again = run("ls")
    assert (again.exit_code, again.stderr) == (0, "")
    assert "v1" not in again.stdout
