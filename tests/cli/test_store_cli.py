"""The store commands, driven through click's CliRunner and one real ``inferd`` process."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from inferd.cli import main
from inferd.store import ModelStore, media
from inferd.store.manifest import Descriptor

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ONNX_V1 = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"
TRAVERSAL = json.loads(
    (Path(__file__).resolve().parents[1] / "store" / "data" / "traversal.json").read_text()
)["references"]
COMMANDS = ["push", "pull", "tag", "ls", "inspect", "rm", "gc", "history"]


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "weights.bin").write_bytes(b"w" * 4096)
    shutil.copyfile(EXAMPLES / "sklearn" / "fraud.skops", directory / "model.skops")
    (directory / "inferd.model.yaml").write_text(
        "runtime: sklearn\ninputs:\n  - {name: x, datatype: FP32, shape: [-1, 8]}\n"
    )
    return directory


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_json(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "--json" in result.output


def test_round_trip(inferd_home: Path, model: Path, tmp_path: Path) -> None:
    pushed = run("push", model, "fraud:v1", "--label", "team=risk")
    assert pushed.exit_code == 0, pushed.output
    digest = pushed.stdout.strip()
    assert digest.startswith("sha256:") and len(digest) == 71

    as_json = json.loads(run("push", ONNX_V1, "fraud:v2", "--json").stdout)
    assert as_json["runtime"] == "onnx"
    assert as_json["files"] == 1

    tagged = run("tag", "fraud:v1", "fraud:prod", "--json")
    assert json.loads(tagged.stdout) == {"reference": "fraud:prod", "digest": digest}

    table = run("ls").stdout
    assert "fraud" in table and "prod" in table and digest[7:19] in table and "onnx" in table
    rows = json.loads(run("ls", "fraud", "--json").stdout)
    assert [(r["tag"], r["runtime"]) for r in rows] == [
        ("prod", "sklearn"),
        ("v1", "sklearn"),
        ("v2", "onnx"),
    ]

    card = yaml.safe_load(run("inspect", "fraud:prod").stdout)
    assert card["digest"] == digest
    assert card["card"]["labels"] == {"team": "risk"}
    assert card["card"]["signature"]["inputs"][0]["name"] == "x"
    inspected = json.loads(run("inspect", "fraud:v2", "--json").stdout)
    assert inspected["card"]["signature"]["inputs"][0]["datatype"] == "FP32"

    dest = tmp_path / "pulled"
    pulled = run("pull", "fraud:prod", dest, "--json")
    assert json.loads(pulled.stdout)["digest"] == digest
    assert (dest / "weights.bin").read_bytes() == (model / "weights.bin").read_bytes()

    assert run("rm", "fraud:v1").exit_code == 0
    assert json.loads(run("gc", "--json").stdout)["blobs_removed"] == 0
    events = json.loads(run("history", "fraud", "--json").stdout)
    assert [(e["tag"], e["action"]) for e in events] == [
        ("v1", "push"),
        ("v2", "push"),
        ("prod", "tag"),
        ("v1", "rm"),
    ]
    assert "prod" in run("history", "fraud").stdout


def test_signature_file_labels_and_trust(inferd_home: Path, model: Path, tmp_path: Path) -> None:
    signature = tmp_path / "sig.yaml"
    signature.write_text("outputs:\n  - {name: predictions, datatype: FP32, shape: [-1]}\n")
    pushed = run("push", model, "m:v1", "--runtime", "sklearn", "--signature", signature, "--json")
    assert pushed.exit_code == 0, pushed.output
    card = json.loads(run("inspect", "m:v1", "--json").stdout)["card"]
    assert card["signature"]["outputs"][0]["name"] == "predictions"

    bad_label = run("push", model, "m:v2", "--label", "novalue")
    assert bad_label.exit_code == 2
    assert "key=value" in bad_label.output

    (model / "extra.pkl").write_bytes(b"\x80\x04N.")
    refused = run("push", model, "m:v3")
    assert refused.exit_code == 2
    assert "extra.pkl" in refused.stderr and "pickle" in refused.stderr
    assert "Traceback" not in refused.output
    assert run("push", model, "m:v3", "--trust-unsafe-format", "-q").exit_code == 0
    card = json.loads(run("inspect", "m:v3", "--json").stdout)["card"]
    assert card["trusted_unsafe_formats"] == ["pickle"]


def test_errors_are_one_line_with_meaningful_exit_codes(inferd_home: Path) -> None:
    missing = run("inspect", "nope:v1")
    assert missing.exit_code == 3
    assert missing.stderr.strip().splitlines() == ["error: model 'nope' version 'v1' not found"]
    assert run("rm", "nope:v1").exit_code == 3
    assert run("history", "Bad Name").exit_code == 2
    never = run("history", "nope")  # a typo is not an empty past
    assert never.exit_code == 3
    assert never.stderr.strip() == "error: model 'nope' not found"
    empty = run("ls", "nope")
    assert (empty.exit_code, empty.stdout, empty.stderr) == (0, "", "no model versions of 'nope'\n")
    assert run("ls", "nope", "--json").stdout.strip() == "[]"


def _snapshot(root: Path, skip: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and skip not in p.parents
    }


def test_traversal_corpus_is_refused_by_every_command(
    inferd_home: Path, model: Path, tmp_path: Path
) -> None:
    assert run("push", model, "safe:v1", "-q").exit_code == 0
    canary = tmp_path / "canary.txt"
    canary.write_text("do not touch")
    before = _snapshot(tmp_path, inferd_home)
    dest = tmp_path / "dest"
    for text in TRAVERSAL:
        attempts = [
            ("push", model, text),
            ("pull", text, dest),
            ("tag", text, "safe:v2"),
            ("tag", "safe:v1", text),
            ("inspect", text),
            ("rm", text),
            ("ls", text),
            ("history", text),
        ]
        for args in attempts:
            result = run(*args, "--json")
            assert result.exit_code != 0, (args, result.output)
            assert "Traceback" not in result.output
    assert _snapshot(tmp_path, inferd_home) == before
    assert not dest.exists()
    assert [e["tag"] for e in json.loads(run("ls", "--json").stdout)] == ["v1"]


def test_a_real_inferd_process_pushes(inferd_home: Path, model: Path) -> None:
    inferd = Path(sys.executable).parent / "inferd"
    env = {**os.environ, "INFERD_HOME": str(inferd_home)}
    done = subprocess.run(
        [str(inferd), "push", str(model), "fraud:v1"],
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    digest = done.stdout.decode().strip()
    assert digest.startswith("sha256:")
    assert b"pushed fraud:v1" in done.stderr
    assert b"\x1b[" not in done.stderr  # no progress bar or colour when stderr is not a TTY
    listed = subprocess.run(
        [str(inferd), "ls", "--json"], env=env, capture_output=True, check=True, timeout=60
    )
    assert json.loads(listed.stdout)[0]["digest"] == digest


def test_pull_by_a_tag_another_oci_tool_put_on_the_version_of_another_name(
    inferd_home: Path, tmp_path: Path
) -> None:
    """What ``skopeo copy oci:…:fraud:v1 oci:…:mirror:v1`` writes: a tag ``mirror:v1`` on a
    version whose card names ``fraud``. ls and inspect take it; pull writes its files."""
    digest = run("push", ONNX_V1, "fraud:v1", "-q").stdout.strip()
    layout = ModelStore(inferd_home).layout
    index = layout.read_index()
    version = Descriptor(media.MANIFEST, digest, layout.blobs.size(digest))
    index.put("mirror:v1", version, media.ARTIFACT_TYPE)
    layout.write_index(index)
    assert json.loads(run("inspect", "mirror:v1", "--json").stdout)["digest"] == digest

    pulled = run("pull", "mirror:v1", tmp_path / "out", "--json")
    assert pulled.exit_code == 0, pulled.output
    assert json.loads(pulled.stdout)["digest"] == digest
    assert (tmp_path / "out" / "model.onnx").read_bytes() == ONNX_V1.read_bytes()
