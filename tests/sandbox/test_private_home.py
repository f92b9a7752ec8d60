"""A trusted model sees its own files, nothing else of the store: the worker runs as the server's
user, who can read the whole of ``$INFERD_HOME``; before, a model read other models' files, the
keys file, the admin API's token (``up.token``) and the audit log. Nor does it get the server's
secrets through its environment."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

from .conftest import sandboxed_python

#: predict reports the errno of reading each path (0: it could), and what ``HOME`` lists.
READER = """
import os
import numpy as np

PATHS = {paths!r}
HOME = {home!r}


class Model:
    def predict(self, inputs):
        codes = []
        for path in PATHS:
            try:
                with open(path, "rb") as f:
                    f.read()
                codes.append(0)
            except OSError as exc:
                codes.append(exc.errno or -1)
        listed = sorted(os.listdir(HOME)) if os.path.isdir(HOME) else []
        return {{"errno": np.array(codes), "listed": np.array(listed, dtype=object).astype(str)}}
"""

SECRETS = {"keys": "sk-hash", "up.token": "admin-token", "audit.jsonl": "{}"}


def _home(tmp_path: Path) -> Path:
    """A home with its store's layout, an admin token, a keys file, an audit log, another
    model (in ``models/``, where the store materializes the models it serves)."""
    home = tmp_path / "home"
    (home / "models" / "other").mkdir(parents=True)
    (home / "store").mkdir()
    (home / "store" / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    for name, text in SECRETS.items():
        (home / name).write_text(text)
    (home / "models" / "other" / "weights.bin").write_bytes(b"other model's")
    return home


@pytest.mark.parametrize("from_environment", [True, False])
def test_a_model_in_the_store_reads_only_its_own_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, from_environment: bool
) -> None:
    """The home named by ``$INFERD_HOME``, or by a settings file (found from the model's path)."""
    home = _home(tmp_path)
    if from_environment:
        monkeypatch.setenv("INFERD_HOME", str(home))
    else:
        monkeypatch.setenv("INFERD_HOME", str(tmp_path / "elsewhere"))
    directory = home / "models" / "m"
    directory.mkdir()
    (directory / "weights.bin").write_bytes(b"mine")
    paths = [str(home / n) for n in SECRETS] + [
        str(home / "models" / "other" / "weights.bin"),
        str(home / "store" / "oci-layout"),
        str(directory / "weights.bin"),
    ]
    model = sandboxed_python(directory, READER.format(paths=paths, home=str(home)))
    try:
        outputs = model.predict({"x": np.array([1])})
    finally:
        model.close()
    assert outputs["errno"].tolist() == [errno.ENOENT] * 5 + [0]
    assert outputs["listed"].tolist() == ["models"]


def test_a_model_outside_the_store_cannot_read_the_servers_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(tmp_path)
    monkeypatch.setenv("INFERD_HOME", str(home))
    paths = [str(home / n) for n in SECRETS]
    model = sandboxed_python(tmp_path / "model", READER.format(paths=paths, home=str(home)))
    try:
        outputs = model.predict({"x": np.array([1])})
    finally:
        model.close()
    assert outputs["errno"].tolist() == [errno.ENOENT] * 3
    assert outputs["listed"].tolist() == []


def test_a_python_path_above_the_home_leaves_the_model_its_own_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``PYTHONPATH`` entry that holds the home (the worker keeps what it imports from) is
    not bound back whole: before, it stood for the model's directory below it, which was then
    not bound back, and the load failed (no model.py)."""
    home = _home(tmp_path)
    monkeypatch.setenv("INFERD_HOME", str(home))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    directory = home / "models" / "m"
    directory.mkdir()
    (directory / "weights.bin").write_bytes(b"mine")
    paths = [str(home / "keys"), str(directory / "weights.bin")]
    model = sandboxed_python(directory, READER.format(paths=paths, home=str(home)))
    try:
        outputs = model.predict({"x": np.array([1])})
    finally:
        model.close()
    assert outputs["errno"].tolist() == [errno.ENOENT, 0]


#: predict returns its environment as ``name=value`` strings.
ENVIRONMENT = """
import os
import numpy as np

class Model:
    def predict(self, inputs):
        pairs = [f"{k}={v}" for k, v in sorted(os.environ.items())]
        return {"env": np.array(pairs, dtype=object).astype(str)}
"""


def test_the_servers_secrets_stay_out_of_the_models_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "INFERD_HOME": str(tmp_path / "home"),
        "INFERD_GATEWAY__AUTH__KEYS_FILE": str(tmp_path / "keys"),
        "INFERD_TLS__KEY_FILE": str(tmp_path / "server.key"),
        "INFERD_CONTROL_TOKEN": "admin-token-123",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-456",
        "HF_TOKEN": "hf-token-789",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    model = sandboxed_python(tmp_path / "model", ENVIRONMENT)
    try:
        env = model.predict({"x": np.array([1])})["env"].tolist()
    finally:
        model.close()
    leaked = [pair for pair in env if any(value in pair for value in secrets.values())]
    assert leaked == []
    assert not [pair for pair in env if pair.startswith("INFERD_")]
