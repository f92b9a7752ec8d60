"""Big JSON bodies are parsed in the decoding process, with the same outcome as in process: the
same request for a valid body, the same error (class and message) for every bad tensor of the
transport table, and 503 only when the process dies while decoding, after which a new one
serves the next body."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from inferd.config import LimitSettings
from inferd.errors import InferdError, InvalidTensor, Unavailable
from inferd.protocols.decoding_process import DECODING, DecodingProcess
from inferd.protocols.v2.codec import TIMEOUT_HEADER, decode_request
from inferd.protocols.v2.kserve_v1 import decode_instances
from inferd.serving.types import InferRequest, InputCheck
from protocols.conftest import TEST_LIMITS, FakeDataPlane, Running, serving
from protocols.test_bad_input_table import CASES, Bad

TESTS = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def decoder() -> Iterator[DecodingProcess]:
    """A decoding process that can unpickle this suite's input checks (tests/ on its path)."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), before) if p)
    process = DecodingProcess()
    try:
        yield process
    finally:
        process.close()
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


def _job(
    model: str = "m",
    version: str | None = None,
    check: InputCheck | None = None,
    headers: dict[str, str] | None = None,
    received: float | None = None,
) -> partial[InferRequest]:
    """What the v2 handler sends to the decoding process for a JSON body."""
    return partial(
        decode_request, model=model, version=version, headers=headers or {}, limits=TEST_LIMITS,
        check=check, received=time.monotonic() if received is None else received,
    )  # fmt: skip


def _both(
    decoder: DecodingProcess,
    body: bytes,
    check: InputCheck | None,
    headers: dict[str, str] | None = None,
    model: str = "m",
) -> tuple[InferRequest | InferdError, InferRequest | InferdError]:
    """Decode ``body`` in this process and in the decoding process: (here, there)."""
    received = time.monotonic()
    job = _job(model, "2", check, headers, received)

    def here() -> InferRequest:
        return decode_request(model, "2", body, headers or {}, TEST_LIMITS, check=check,
                              received=received)  # fmt: skip

    def there() -> InferRequest:
        return decoder.decode(job, body)

    outcomes: list[InferRequest | InferdError] = []
    for decode in (here, there):
        try:
            outcomes.append(decode())
        except InferdError as exc:
            outcomes.append(exc)
    return outcomes[0], outcomes[1]


def _outcome(result: InferRequest | InferdError) -> object:
    if isinstance(result, InferdError):
        return type(result), result.code, result.message, str(result)
    return result.model, [
        (t.name, t.datatype, t.data.dtype, t.data.tolist()) for t in result.inputs
    ]


@pytest.mark.parametrize("case", [c for c in CASES if c.json is not None], ids=lambda c: c.id)
def test_every_json_case_of_the_transport_table_decodes_the_same_in_the_decoding_process(
    decoder: DecodingProcess, case: Bad
) -> None:
    """Cases the data plane refuses before decoding (an unknown model) decode alike too."""
    body = orjson.dumps({"inputs": [{"name": case.name, "datatype": case.datatype,
                                     "shape": case.shape, "data": case.json}]})  # fmt: skip
    plane = FakeDataPlane()
    check = plane.input_check(case.model) if case.model in plane.loaded else None
    here, there = _both(decoder, body, check, model=case.model)
    assert _outcome(there) == _outcome(here)


def test_malformed_json_fails_the_same_way(decoder: DecodingProcess) -> None:
    here, there = _both(decoder, b'{"inputs": [', None)
    assert isinstance(here, InferdError) and isinstance(there, InferdError)
    assert (type(there), there.message) == (type(here), here.message)
    assert "malformed JSON" in there.message


def test_a_valid_body_decodes_to_the_same_request(decoder: DecodingProcess) -> None:
    doc = {
        "id": "r-1",
        "parameters": {"timeout_ms": 5000, "tag": "a"},
        "outputs": [{"name": "y", "parameters": {"binary_data": False}}],
        "inputs": [
            {"name": "f", "datatype": "FP32", "shape": [2, 3],
             "data": [[0.5, 1.5, -2.0], [3.25, 0.0, 1e-3]]},
            {"name": "i", "datatype": "INT64", "shape": [4], "data": [1, -2, 2**40, 0]},
            {"name": "b", "datatype": "BOOL", "shape": [2], "data": [True, False]},
            {"name": "s", "datatype": "BYTES", "shape": [2], "data": ["héllo", ""],
             "parameters": {"content_type": "str"}},
        ],
    }  # fmt: skip
    here, there = _both(decoder, orjson.dumps(doc), None, {TIMEOUT_HEADER: "3000"})
    assert isinstance(here, InferRequest) and isinstance(there, InferRequest)
    assert (there.model, there.version, there.id, there.parameters, there.outputs) == (
        here.model, here.version, here.id, here.parameters, here.outputs
    )  # fmt: skip
    assert there.deadline == here.deadline  # the header's 3 s, the sooner, on the same clock
    for got, want in zip(there.inputs, here.inputs, strict=True):
        assert (got.name, got.datatype, got.parameters) == (want.name, want.datatype,
                                                            want.parameters)  # fmt: skip
        assert got.data.dtype == want.data.dtype and got.data.shape == want.data.shape
        assert np.array_equal(got.data, want.data)


def test_a_signature_mismatch_is_refused_as_in_process(decoder: DecodingProcess) -> None:
    body = orjson.dumps({"inputs": [{"name": "x", "datatype": "INT32", "shape": [1, 3],
                                     "data": [1, 2, 3]}]})  # fmt: skip
    _, there = _both(decoder, body, FakeDataPlane().input_check("sum"), model="sum")
    assert isinstance(there, InvalidTensor)
    assert there.message == "tensor 'x': expected datatype FP32 but got INT32"


class ExitWhileChecking:
    """An input check that ends the process that runs it: a decoding process dying mid-body."""

    def declared(self, name: str, datatype: str, shape: tuple[int, ...]) -> None:
        os._exit(3)


def test_a_process_that_dies_mid_body_fails_that_request_only(decoder: DecodingProcess) -> None:
    body = orjson.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1],
                                     "data": [1.0]}]})  # fmt: skip
    with pytest.raises(Unavailable, match="decoding process ended while decoding"):
        decoder.decode(_job(check=ExitWhileChecking()), body)
    assert decoder.pid is None
    ok = decoder.decode(_job(), body)
    assert ok.inputs[0].data.tolist() == [1.0]


def test_a_process_killed_between_bodies_is_replaced_unnoticed(decoder: DecodingProcess) -> None:
    body = orjson.dumps({"inputs": [{"name": "x", "datatype": "INT32", "shape": [2],
                                     "data": [1, 2]}]})  # fmt: skip
    job = _job()
    decoder.decode(job, body)
    first = decoder.pid
    assert first is not None
    os.kill(first, 9)
    os.waitid(os.P_PID, first, os.WEXITED | os.WNOWAIT)
    assert decoder.decode(job, body).inputs[0].data.tolist() == [1, 2]
    assert decoder.pid not in (None, first)


def test_a_kserve_v1_body_decodes_the_same_in_the_decoding_process(
    decoder: DecodingProcess,
) -> None:
    job = partial(decode_instances, model="sum", name="x", datatype="FP32", limits=TEST_LIMITS)
    bodies = (b'{"instances": [[1, 2, 3], [4, 5, 6]]}', b'{"instances": [[1, 2], [3]]}',
              b'{"rows": []}', b'{"instances": [["a"]]}')  # fmt: skip
    for body in bodies:
        outcomes = []
        for decode in (partial(job, body=body), partial(decoder.decode, job, body)):
            try:
                outcomes.append(_outcome(decode()))
            except InferdError as exc:
                outcomes.append(_outcome(exc))
        assert outcomes[0] == outcomes[1], body


@dataclass
class BigJsonServer:
    running: Running
    #: The decode function of each body sent to the server's decoding process.
    sent: list[str]


@pytest.fixture
def big_json_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[BigJsonServer]:
    """A data-plane listener that sends JSON bodies over 1 KiB to the decoding process, noting
    what it sends there."""
    sent: list[str] = []
    decode = DECODING.decode

    def noted(job: partial[InferRequest], body: bytes | bytearray) -> InferRequest:
        sent.append(job.func.__name__)
        return decode(job, body)

    monkeypatch.setattr(DECODING, "decode", noted)
    with serving(LimitSettings(**{**TEST_LIMITS.model_dump(), "process_decode_bytes": 1024})) as s:
        yield BigJsonServer(s, sent)


def test_rest_sends_big_json_bodies_to_the_decoding_process(big_json_server: BigJsonServer) -> None:
    rows = [[float(i), 1.0, 2.0] for i in range(200)]
    body = orjson.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [200, 3],
                                     "data": rows}]})  # fmt: skip
    assert len(body) > 1024
    url = f"{big_json_server.running.url}/v2/models/sum/infer"
    answer = httpx.post(url, content=body, timeout=30)
    assert answer.status_code == 200, answer.text
    (output,) = answer.json()["outputs"]
    assert output["data"] == [i + 3.0 for i in range(200)]
    assert big_json_server.sent == ["decode_request"]
    small = httpx.post(url, json={"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3],
                                              "data": [1, 2, 3]}]})  # fmt: skip
    assert small.json()["outputs"][0]["data"] == [6.0]
    assert big_json_server.sent == ["decode_request"]  # a small body is decoded in the server
    assert DECODING.pid is not None


def test_kserve_v1_sends_big_bodies_to_the_decoding_process(
    big_json_server: BigJsonServer,
) -> None:
    rows = [[float(i), 1.0, 2.0] for i in range(200)]
    body = orjson.dumps({"instances": rows})
    assert len(body) > 1024
    url = f"{big_json_server.running.url}/v1/models/sum:predict"
    answer = httpx.post(url, content=body, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": [[i + 3.0] for i in range(200)]}
    assert big_json_server.sent == ["decode_instances"]
