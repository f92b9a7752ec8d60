"""A real ``inferd serve`` of a scikit-learn pipeline whose encoders refuse categories they were
not fitted on (``handle_unknown='error'``): what its clients see over HTTP."""

from __future__ import annotations

import asyncio
import json
import shlex
from pathlib import Path

import httpx
import numpy as np
import pytest
import skops.io
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from e2e.conftest import _stop, start_serve, wait_ready
from inferd.config import StoreSettings
from inferd.packaging import push
from inferd.store import ModelStore
from serving.test_onnx_categories import _strict_onnx

pytestmark = pytest.mark.slow

ROWS = [["red", "small"], ["green", "large"], ["blue", "small"], ["red", "large"]] * 3
LABELS = [1, 0, 0, 1] * 3


def _push_strict(home: Path, tmp_path: Path) -> None:
    """``colors:v1``: one BYTES input of two columns, each read by a strict encoder."""
    encoders = ColumnTransformer(
        [
            ("color", OneHotEncoder(handle_unknown="error"), [0]),
            ("size", OrdinalEncoder(handle_unknown="error"), [1]),
        ]
    )
    estimator = make_pipeline(encoders, LogisticRegression())
    estimator.fit(np.array(ROWS, dtype=object), LABELS)
    folder = tmp_path / "colors"
    folder.mkdir()
    skops.io.dump(estimator, folder / "model.skops")
    inputs = [{"name": "item", "datatype": "BYTES", "shape": [-1, 2]}]
    (folder / "inferd.model.yaml").write_text(yaml.safe_dump({"inputs": inputs}))
    push(ModelStore.from_settings(StoreSettings(home=home)), folder, "colors:v1")


def _body_of(try_line: str) -> dict[str, object]:
    """The JSON the ``try:`` line's curl sends (its ``-d`` argument)."""
    words = shlex.split(try_line.split("try: ", 1)[1])
    return dict(json.loads(words[words.index("-d") + 1]))


def test_the_start_up_curl_of_a_strict_pipeline_is_answered(tmp_path: Path) -> None:
    """It sent "" in every column, a category no encoder knew: a 500, and the warm-up skipped."""
    home = tmp_path / "home"
    _push_strict(home, tmp_path)
    server = start_serve(home, "colors:v1")
    try:
        wait_ready(server.url)
        (line,) = [line for line in server.log if "try: curl" in line]
        body = _body_of(line)
        with httpx.Client(base_url=server.url, timeout=10) as client:
            reply = client.post("/v2/models/colors/infer", json=body)
    finally:
        _stop(server)
    assert reply.status_code == 200, reply.text
    (item,) = body["inputs"]  # type: ignore[misc]
    assert item["data"] == ["blue", "large"]  # the first category of each column
    assert not [line for line in server.log if "without a warm-up" in line]


def test_an_unknown_category_is_a_400_naming_it_and_fails_only_its_request(
    tmp_path: Path,
) -> None:
    """scikit-learn's ValueError for a category its encoder was not fitted on was a 500."""
    home = tmp_path / "home"
    _push_strict(home, tmp_path)
    server = start_serve(home, "colors:v1")

    def body(*rows: list[str]) -> dict[str, object]:
        item = {"name": "item", "datatype": "BYTES", "shape": [len(rows), 2]}
        return {"inputs": [{**item, "data": [v for row in rows for v in row]}]}

    async def together() -> list[httpx.Response]:
        """Sent at once, so the batcher may run them as one batch."""
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            rows = [["red", "small"], ["purple", "small"], ["blue", "large"]] * 4
            return await asyncio.gather(
                *(client.post("/v2/models/colors/infer", json=body(row)) for row in rows)
            )

    try:
        wait_ready(server.url)
        with httpx.Client(base_url=server.url, timeout=10) as client:
            unknown = client.post("/v2/models/colors/infer", json=body(["red", "huge"]))
        replies = asyncio.run(together())
    finally:
        _stop(server)
    assert unknown.status_code == 400, unknown.text
    message = unknown.json()["error"]
    assert "'item'" in message and "column 1" in message and "'huge'" in message, message
    assert "'large', 'small'" in message, message
    assert [r.status_code for r in replies] == [200, 400, 200] * 4
    assert not [line for line in server.log if "Traceback" in line]


def test_the_start_up_note_names_inputs_whose_strings_are_not_known(tmp_path: Path) -> None:
    """An ONNX model tells no categories: its example sends "", which its strict encoder
    refuses (a 400 naming the input), and the start-up log says to put in real values."""
    home = tmp_path / "home"
    _strict_onnx(tmp_path / "colors")
    push(ModelStore.from_settings(StoreSettings(home=home)), tmp_path / "colors", "colors:v1")
    server = start_serve(home, "colors:v1")
    try:
        wait_ready(server.url)
        (line,) = [line for line in server.log if "try: curl" in line]
        with httpx.Client(base_url=server.url, timeout=10) as client:
            reply = client.post("/v2/models/colors/infer", json=_body_of(line))
    finally:
        _stop(server)
    (note,) = [line for line in server.log if "note: " in line]
    assert "colors does not tell which strings it takes in 'color'" in note, note
    assert reply.status_code == 400 and "'color'" in reply.json()["error"], reply.text


def test_the_start_up_curl_runs_in_a_shell_when_a_category_holds_a_quote(tmp_path: Path) -> None:
    """The body was put between single quotes as it was: a category such as "O'Brien" ended the
    quoted argument early, and the shell refused the line the log offers to copy."""
    estimator = make_pipeline(OneHotEncoder(handle_unknown="error"), LogisticRegression())
    estimator.fit(np.array([["O'Brien"], ["Smith"]] * 3, dtype=object), [1, 0] * 3)
    folder = tmp_path / "names"
    folder.mkdir()
    skops.io.dump(estimator, folder / "model.skops")
    inputs = [{"name": "name", "datatype": "BYTES", "shape": [-1, 1]}]
    (folder / "inferd.model.yaml").write_text(yaml.safe_dump({"inputs": inputs}))
    home = tmp_path / "home"
    push(ModelStore.from_settings(StoreSettings(home=home)), folder, "names:v1")
    server = start_serve(home, "names:v1")
    try:
        wait_ready(server.url)
        (line,) = [line for line in server.log if "try: curl" in line]
        body = _body_of(line)  # split as a POSIX shell splits it
        with httpx.Client(base_url=server.url, timeout=10) as client:
            reply = client.post("/v2/models/names/infer", json=body)
    finally:
        _stop(server)
    assert body["inputs"] == [
        {"name": "name", "shape": [1, 1], "datatype": "BYTES", "data": ["O'Brien"]}
    ]
    assert reply.status_code == 200, reply.text
