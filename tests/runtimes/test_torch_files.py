"""A PyTorch file (torch.save's zip archive, TorchScript, the legacy pickle) is no format an
inferd runtime loads, and torch is not needed to tell: push says so and what to do (export to
ONNX, or the python runtime), instead of "pass --runtime", which no runtime name satisfies."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.errors import InvalidArgument
from inferd.runtimes.detect import detect_model
from inferd.store import ModelStore

ADVICE = (
    "no inferd runtime loads PyTorch files: export the model to ONNX (torch.onnx.export) and "
    "push the .onnx file, or push the file with the python runtime and a class whose load() "
    "reads it with torch installed where the server runs (see examples/python-model)"
)
#: What torch.save wrote before PyTorch 1.6: a pickle of its magic number first.
LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02"


def _torch_save(path: Path, script: bool = False) -> Path:
    """The layout torch.save (or torch.jit.save) writes: a zip archive of pickles."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", pickle.dumps({"weight": [1.0, 2.0]}, protocol=2))
        archive.writestr("model/version", "3\n")
        if script:
            archive.writestr("model/constants.pkl", pickle.dumps((), protocol=2))
            archive.writestr("model/code/__torch__.py", "")
    return path


@pytest.mark.parametrize("kind", ["save", "script", "legacy"])
def test_a_pytorch_file_is_named_with_what_to_do(tmp_path: Path, kind: str) -> None:
    file = tmp_path / "weights.bin"
    if kind == "legacy":
        file.write_bytes(LEGACY_MAGIC)
    else:
        _torch_save(file, script=kind == "script")
    with pytest.raises(InvalidArgument) as info:
        detect_model(file, None)
    assert info.value.message == f"'weights.bin' is a PyTorch file; {ADVICE}"


def test_a_directory_holding_a_pytorch_file_names_it(tmp_path: Path) -> None:
    _torch_save(tmp_path / "model.pt")
    (tmp_path / "README.md").write_text("a model")
    with pytest.raises(InvalidArgument) as info:
        detect_model(tmp_path, None)
    assert info.value.message.endswith(f"'model.pt' is a PyTorch file; {ADVICE}")


def test_a_torch_runtime_asked_for_says_what_to_do(inferd_home: Path, tmp_path: Path) -> None:
    file = _torch_save(tmp_path / "model.pt")
    result = CliRunner().invoke(
        main, ["push", str(file), "net:v1", "--runtime", "pytorch", "--trust-unsafe-format"]
    )
    assert result.exit_code == 2, result.output
    assert f"error: unknown runtime 'pytorch' ({ADVICE}); available runtimes: " in result.output
    assert ModelStore(inferd_home).list() == []


def test_a_trusted_pytorch_file_is_refused_at_push(inferd_home: Path, tmp_path: Path) -> None:
    file = _torch_save(tmp_path / "model.pt")
    result = CliRunner().invoke(main, ["push", str(file), "net:v1", "--trust-unsafe-format"])
    assert result.exit_code == 2, result.output
    assert f"error: 'model.pt' is a PyTorch file; {ADVICE}\n" in result.output


def _exported_program(path: Path, legacy: bool = False) -> Path:
    """The layout torch.export.save writes: the PT2 archive (PyTorch 2.6 on: an
    ``archive_format`` member holding ``pt2``), or before it the serialized program's JSON
    beside torch.save blobs of its weights."""
    with zipfile.ZipFile(path, "w") as archive:
        if legacy:
            archive.writestr("serialized_exported_program.json", "{}")
            archive.writestr("serialized_state_dict.pt", b"PK\x03\x04")
            archive.writestr("version", "7.3")
        else:
            archive.writestr("package/archive_format", "pt2")
            archive.writestr("package/.data/version", "0")
            archive.writestr("package/models/model.json", "{}")
            archive.writestr("package/data/weights/weight_0", b"\0" * 16)
    return path


@pytest.mark.parametrize("legacy", [False, True], ids=["pt2-archive", "torch-2.5"])
def test_an_exported_program_is_named_with_what_to_do(
    inferd_home: Path, tmp_path: Path, legacy: bool
) -> None:
    """torch.export.save's .pt2 was "not a model in a format inferd recognises; pass
    --runtime", which no runtime name satisfies."""
    file = _exported_program(tmp_path / "model.pt2", legacy)
    with pytest.raises(InvalidArgument) as info:
        detect_model(file, None)
    assert info.value.message == f"'model.pt2' is a PyTorch file; {ADVICE}"
    result = CliRunner().invoke(main, ["push", str(file), "net:v1", "--trust-unsafe-format"])
    assert result.exit_code == 2, result.output
    assert f"error: 'model.pt2' is a PyTorch file; {ADVICE}\n" in result.output
