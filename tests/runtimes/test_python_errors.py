"""What a trusted python model raises reaches the client: an inferd error as its own status and
message (a model's way to say "bad input"), anything else as a 500 naming no traceback."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from e2e.conftest import start_serve, wait_ready
from inferd.card import ModelCard
from inferd.config import SandboxSettings, StoreSettings
from inferd.errors import (
    InferdError,
    InvalidArgument,
    ModelRaised,
    NotFound,
    Unavailable,
    WorkerRestarting,
)
from inferd.packaging import push
from inferd.runtimes import LoadOptions, get_runtime
from inferd.sandbox.model import SandboxedModel
from inferd.store import ModelStore

from .conftest import sandboxed_python

MODEL = """
import numpy as np
from inferd import errors


class NegativeAmount(errors.InvalidArgument):
    def __init__(self, row):
        super().__init__(f"row {row}: the amount is negative")
        self.row = row
        self.code = "spoofed"


class Spoofed(errors.InvalidArgument):
    code = errors.Code.INTERNAL


class Model:
    def predict(self, inputs):
        x = inputs["x"]
        what = int(x.ravel()[0])
        if what == 1:
            raise errors.InvalidArgument("feature 'amount' must be positive, got -3")
        if what == 2:
            raise NegativeAmount(4)
        if what == 3:
            raise errors.NotFound("no customer 'c-17' in the lookup table")
        if what == 4:
            raise errors.InvalidTensor("x", "needs 8 features, got 3")
        if what == 5:
            raise ValueError("secret /srv/models/key.txt")
        if what == 6:
            raise errors.WorkerRestarting("not really", "crashed", 3600)
        if what == 7:
            raise errors.InvalidArgument("x" * 5000)
        if what == 8:
            raise Spoofed("a class attribute does not change the status")
        if what == 9:
            raise errors.InternalError("the model's own bug")
        return {"y": x}
"""


@pytest.fixture
def model(tmp_path: Path) -> Iterator[SandboxedModel]:
    loaded = sandboxed_python(tmp_path, MODEL)
    yield loaded
    loaded.close()


def raised(model: SandboxedModel, what: int) -> InferdError:
    with pytest.raises(InferdError) as caught:
        model.predict({"x": np.array([what], dtype=np.int64)})
    return caught.value


def test_an_invalid_argument_the_model_raises_reaches_the_caller(model: SandboxedModel) -> None:
    error = raised(model, 1)
    assert type(error) is InvalidArgument
    assert error.message == "feature 'amount' must be positive, got -3"
    assert model.predict({"x": np.array([0], dtype=np.int64)})["y"].tolist() == [0]


def test_a_model_s_own_subclass_keeps_its_message_and_nothing_else(model: SandboxedModel) -> None:
    error = raised(model, 2)
    assert isinstance(error, InvalidArgument)
    assert error.message == "row 4: the amount is negative"
    assert not hasattr(error, "row")
    assert error.code is InvalidArgument.code
    spoofed = raised(model, 8)
    assert isinstance(spoofed, InvalidArgument) and spoofed.code is InvalidArgument.code


def test_other_inferd_errors_keep_their_status(model: SandboxedModel) -> None:
    assert type(raised(model, 3)) is NotFound
    tensor = raised(model, 4)
    assert (
        isinstance(tensor, InvalidArgument)
        and tensor.message == "tensor 'x': needs 8 features, got 3"
    )
    restarting = raised(model, 6)
    assert type(restarting) is Unavailable and restarting.retry_after == 1.0
    assert not isinstance(restarting, WorkerRestarting)


def test_a_long_message_is_cut(model: SandboxedModel) -> None:
    error = raised(model, 7)
    assert isinstance(error, InvalidArgument) and 0 < len(error.message) <= 1000


def test_any_other_exception_is_the_model_s_fault_without_its_text(
    model: SandboxedModel,
) -> None:
    for what, kind in ((5, "ValueError"), (9, "InternalError")):
        with pytest.raises(ModelRaised) as caught:
            model.predict({"x": np.array([what], dtype=np.int64)})
        assert str(caught.value) == f"the model's predict raised {kind}"


@pytest.mark.slow
def test_served_a_model_s_bad_input_is_a_400_naming_it(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "model.py").write_text(MODEL)
    (source / "inferd.model.yaml").write_text(
        "runtime: python\nentrypoint: model:Model\n"
        "inputs:\n  - {name: x, datatype: INT64, shape: [-1]}\n"
        "outputs:\n  - {name: y, datatype: INT64, shape: [-1]}\n"
    )
    home = tmp_path / "home"
    push(ModelStore.from_settings(StoreSettings(home=home)), source, "rules:v1")
    server = start_serve(home, "rules:v1", "--trust-code", "rules")
    try:
        wait_ready(server.url)
        answers = {what: post(server.port, what) for what in (0, 1, 3, 5)}
    finally:
        server.stop()
    assert answers[0][0] == 200
    assert answers[1] == (400, "feature 'amount' must be positive, got -3")
    assert answers[3] == (404, "no customer 'c-17' in the lookup table")
    status, message = answers[5]
    assert status == 500 and "secret" not in message and "Traceback" not in message


def post(port: int, what: int) -> tuple[int, str]:
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [what]}]}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/v2/models/rules/infer", json.dumps(body))
        response = conn.getresponse()
        answer = json.loads(response.read())
        return response.status, answer.get("error", "")
    finally:
        conn.close()


BAD_CONFIG = """
from inferd.errors import InvalidArgument


class Model:
    def load(self, path):
        raise InvalidArgument("rules.json: 'threshold' must be within [0, 1], got 7")

    def predict(self, inputs):
        return inputs
"""


def test_an_inferd_error_in_load_names_its_message(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(BAD_CONFIG)
    options = LoadOptions(trust_code=True, sandbox=SandboxSettings())
    card = ModelCard(name="m", runtime="python", entrypoint="model:Model")
    with pytest.raises(InvalidArgument) as caught:
        get_runtime("python").load(tmp_path, card, options)
    assert caught.value.message == (
        "loading 'model:Model' raised InvalidArgument: "
        "rules.json: 'threshold' must be within [0, 1], got 7"
    )
