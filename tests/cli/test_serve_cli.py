"""``inferd serve`` argument checks that need no server."""

import gc
from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

from inferd.cli import main
from inferd.cli.serve_cmds import path_given
from inferd.packaging import push
from inferd.store import ModelStore


def test_serve_without_a_reference_needs_allow_empty(inferd_home: Path) -> None:
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 2
    assert "--allow-empty" in result.output


def test_a_serve_that_fails_to_start_leaves_the_collector_on(inferd_home: Path) -> None:
    """`inferd serve` turns the garbage collector off while it starts; a failure before
    Server.start turns it back on (this process goes on, as a CliRunner's does)."""
    result = CliRunner().invoke(
        main, ["serve", "--keys-file", str(inferd_home / "no-such-keys"), "--no-grpc", "m:v1"]
    )
    assert result.exit_code == 2, result.output
    assert "no-such-keys" in result.output
    assert gc.isenabled()


def test_public_metrics_without_keys_is_refused_naming_what_it_goes_with(
    inferd_home: Path,
) -> None:
    """Without a keys file nothing needs a key, /metrics included: the flag did nothing, and a
    user who meant to require keys got an open server without a word."""
    result = CliRunner().invoke(main, ["serve", "--public-metrics", "--no-grpc", "m:v1"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        "error: --public-metrics goes with --keys-file (or auth.keys_file): without keys, "
        "/metrics and every other route are open already"
    )


def test_public_metrics_with_a_keys_file_from_the_settings_file_is_taken(
    inferd_home: Path, tmp_path: Path
) -> None:
    settings = tmp_path / "serve.yaml"
    settings.write_text(f"auth: {{keys_file: {tmp_path / 'no-such-keys'}}}\n", "utf-8")
    result = CliRunner().invoke(
        main, ["serve", "--public-metrics", "--config", str(settings), "--no-grpc", "m:v1"]
    )
    assert result.exit_code == 2, result.output
    assert "no-such-keys" in result.stderr and "--public-metrics" not in result.stderr


def test_an_empty_inferd_home_is_the_default_home_as_for_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``INFERD_HOME=`` (a script's unset variable) is ~/.inferd for push, ls and the rest;
    serve took it for the working directory, and said its models were not found."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("INFERD_HOME", "")
    (tmp_path / ".inferd").write_text("in the way")  # the store there cannot be: say so
    ls = CliRunner().invoke(main, ["ls"])
    serve = CliRunner().invoke(main, ["serve", "--no-grpc", "--no-control", "m:v1"])
    expected = f"error: INFERD_HOME '{tmp_path / '.inferd'}' is not a directory"
    assert (ls.exit_code, ls.stderr.strip()) == (2, expected)
    assert (serve.exit_code, serve.stderr.strip()) == (2, expected)


@pytest.mark.parametrize("flag", ["--port", "--grpc-port", "--control-port", "--control-grpc-port"])
def test_a_port_out_of_range_names_its_flag_as_inferd_up_does(inferd_home: Path, flag: str) -> None:
    """The error was "invalid settings: grpc_port: Input should be less than or equal to
    65535", naming a setting rather than the flag given; `inferd up --port` names its flag."""
    result = CliRunner().invoke(main, ["serve", flag, "70000", "--no-grpc", "m:v1"])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{flag}': 70000 is not in the range 0<=x<=65535" in result.stderr


@pytest.mark.parametrize(
    ("given", "kind", "push_line"),
    [
        ("./multi", "a directory", "inferd push ./multi multi:v1, then inferd serve multi:v1"),
        ("multi/", "a directory", "inferd push multi/ multi:v1, then inferd serve multi:v1"),
        (
            "multi/Model_2.onnx",
            "a file",
            "inferd push multi/Model_2.onnx model-2:v1, then inferd serve model-2:v1",
        ),
    ],
)
def test_a_path_given_for_a_reference_says_to_push_it_first(
    inferd_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    given: str, kind: str, push_line: str,
) -> None:  # fmt: skip
    """``inferd serve ./multi`` said "'.' is not a valid registry host", and ``inferd serve
    multi/model.onnx`` that version 'latest' of that model was not found."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "multi").mkdir()
    (tmp_path / "multi" / "Model_2.onnx").write_bytes(b"onnx")
    result = CliRunner().invoke(main, ["serve", "--no-grpc", given])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        f"error: {given!r} is {kind}, not a model reference: inferd serve takes a version "
        f"from the store. Push it first: {push_line}"
    )


def test_a_stored_name_that_is_also_a_directory_is_taken_as_the_name(
    inferd_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``inferd serve multi`` after ``inferd push multi multi``: the store's version is meant."""
    folder = tmp_path / "multi"
    folder.mkdir()
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
    )
    onnx.save(helper.make_model(graph), str(folder / "model.onnx"))
    store = ModelStore(inferd_home)
    push(store, folder, "multi")
    monkeypatch.chdir(tmp_path)
    assert path_given("multi", store) is None
    assert path_given("multi:v2", store) is None  # not a path
    assert path_given("multi/model.onnx", store) is not None


def test_a_path_to_nothing_is_named_as_a_path(inferd_home: Path) -> None:
    """``inferd serve ./mutli`` (a typo) said "'.' is not a valid registry host"."""
    result = CliRunner().invoke(main, ["serve", "--no-grpc", "./mutli"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        "error: './mutli' is a path (to nothing here), not a model reference: inferd serve "
        "takes a version from the store. Push the model first: inferd push PATH NAME:TAG, then "
        "inferd serve NAME:TAG"
    )


def test_the_waiting_bound_flag_takes_what_its_setting_does(inferd_home: Path) -> None:
    """The bound of a language model's waiting queue was fixed at 64 (100 concurrent requests
    on 2 slots got some 503s); ``--max-waiting-seqs`` sets it, from 64 (one request's choices
    must all fit) up."""
    result = CliRunner().invoke(
        main, ["serve", "--no-grpc", "--no-control", "--max-waiting-seqs", "63", "m:v1"]
    )
    assert result.exit_code == 2
    assert "'--max-waiting-seqs': 63 is not in the range 64<=x<=65536" in result.stderr
