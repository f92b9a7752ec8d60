"""An input carrying both JSON ``data`` and binary data is refused, as gRPC refuses a tensor with
both typed ``contents`` and a ``raw_input_contents`` entry: the server cannot know which the
client meant, and silently taking the binary section hid the client's bug."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from inferd.config import LimitSettings
from inferd.errors import InvalidTensor
from inferd.protocols.v2.codec import HEADER_LENGTH, decode_request
from inferd.serving.types import InferRequest

BINARY = np.array([1.0, 2.0], np.float32).tobytes()


def _decode(tensor: dict[str, object]) -> InferRequest:
    """``tensor`` as the JSON head of a binary request whose one section is :data:`BINARY`."""
    text = orjson.dumps({"inputs": [tensor]})
    headers = {HEADER_LENGTH: str(len(text))}
    return decode_request(
        "m", None, text + BINARY, headers, LimitSettings(), check=None, received=0.0
    )


@pytest.mark.parametrize("data", [[9.0, 9.0], []])
def test_an_input_with_data_and_binary_data_size_is_refused(data):
    tensor = {"name": "x", "shape": [2], "datatype": "FP32", "data": data,
              "parameters": {"binary_data_size": len(BINARY)}}  # fmt: skip
    with pytest.raises(InvalidTensor) as refused:
        _decode(tensor)
    assert "'x'" in str(refused.value)
    assert "both in 'data' and as binary data" in str(refused.value)


@pytest.mark.parametrize("null", [False, True])
def test_binary_data_alone_still_decodes(null):
    """A ``"data": null`` (a client serialising every field) is no data."""
    tensor: dict[str, object] = {"name": "x", "shape": [2], "datatype": "FP32",
                                 "parameters": {"binary_data_size": len(BINARY)}}  # fmt: skip
    if null:
        tensor["data"] = None
    request = _decode(tensor)
    assert request.inputs[0].data.tolist() == [1.0, 2.0]
