"""Shadow comparison of float outputs holding NaN or infinities.

A replica writes NaN and infinities as JSON ``null`` (JSON has neither) and as IEEE bytes in
binary outputs. Such an answer is compared, never counted as a failed copy, and the divergence
it records is a number: a NaN reaching ``inferd_gateway_shadow_divergence``'s sum would stay
there for good (the sum is cumulative, and NaN falls in no bucket), hiding every later
comparison of the pairing from the dashboard and the rollout analysis.
"""

from __future__ import annotations

import math
import struct

import numpy as np
import orjson
import pytest

from inferd.control.gateway.compare import (
    Divergence,
    Output,
    Undecodable,
    compare,
    decode_outputs,
)
from inferd.control.gateway.generation_compare import cosine, read_answer
from inferd.control.gateway.metrics import GatewayMetrics

from .conftest import sample

NAN = float("nan")
INF = float("inf")


def floats(*values: float) -> Output:
    return Output((len(values),), np.array(values, dtype=np.float32))


def test_a_json_null_in_a_float_output_reads_as_nan() -> None:
    body = orjson.dumps({"outputs": [{"name": "y", "datatype": "FP32", "shape": [1, 2],
                                      "data": [[None, 1.5]]}]})  # fmt: skip
    out = decode_outputs({}, body)["y"]
    assert out.shape == (1, 2)
    assert math.isnan(out.data[0]) and out.data[1] == 1.5


def test_answers_that_agree_on_their_nans_and_infinities_agree() -> None:
    (d,) = compare({"y": floats(NAN, INF, 1.0)}, {"y": floats(NAN, INF, 1.5)})
    assert (d.kind, d.value, d.mismatched) == ("mad", 0.5 / 3, False)


def test_a_nan_against_a_number_is_fully_different_never_nan() -> None:
    for primary, shadow in [
        (floats(1.0, 2.0), floats(NAN, 2.0)),
        (floats(NAN, 2.0), floats(1.0, 2.0)),
        (floats(INF, 2.0), floats(1.0, 2.0)),
        (floats(INF, 2.0), floats(-INF, 2.0)),
    ]:
        (d,) = compare({"y": primary}, {"y": shadow})
        assert (d.kind, d.value, d.elements, d.mismatched) == ("share", 1.0, 2, True)


def test_a_difference_beyond_float64_is_fully_different() -> None:
    big = Output((2,), np.array([1e308, 0.0]))
    (d,) = compare({"y": big}, {"y": Output((2,), np.array([-1e308, 0.0]))})
    assert (d.kind, d.value) == ("share", 1.0)


def test_the_divergence_series_stay_numbers_after_a_nan_answer() -> None:
    metrics = GatewayMetrics()
    binary = struct.pack("<2f", NAN, 1.0)
    head = orjson.dumps({"outputs": [{"name": "y", "datatype": "FP32", "shape": [2],
                                      "parameters": {"binary_data_size": 8}}]})  # fmt: skip
    headers = {"inference-header-content-length": str(len(head))}
    nan_answer = decode_outputs(headers, head + binary)
    for shadow in (nan_answer, {"y": floats(0.5, 1.0)}):
        for d in compare({"y": floats(1.0, 1.0)}, shadow):
            metrics.divergence("d", "v1", "v2", d)
    text = metrics.render().decode()
    total = 0.0
    for kind in ("mad", "share"):
        labels = {"deployment": "d", "primary": "v1", "shadow": "v2", "output": "y", "kind": kind}
        total += sample(text, "inferd_gateway_shadow_divergence_sum", **labels)
        assert not math.isnan(total)
    assert total == 1.0 + 0.25  # the NaN answer fully different, then a mean difference


def test_an_embedding_holding_nan_is_no_match_for_a_number() -> None:
    assert cosine((NAN, 1.0), (0.5, 1.0)) == 0.0
    assert cosine((INF, 1.0), (1.0, 1.0)) == 0.0
    assert cosine((NAN, 1.0), (NAN, 1.0)) == 1.0  # the same answer
    assert cosine((1.0, 0.0), (1.0, 0.0)) == 1.0


def test_an_embedding_null_reads_as_nan_and_other_values_are_undecodable() -> None:
    (vector,) = read_answer(orjson.dumps({"data": [{"embedding": [None, 1.0]}]})).embeddings
    assert math.isnan(vector[0]) and vector[1] == 1.0
    with pytest.raises(Undecodable):  # not an error the mirror never counts
        read_answer(orjson.dumps({"data": [{"embedding": ["a", 1.0]}]}))


@pytest.mark.parametrize("mismatch_first", [True, False])
def test_the_label_share_counts_the_elements_of_share_comparisons_only(
    mismatch_first: bool,
) -> None:
    # A float output compared by mean difference, once fully different (a NaN, or shapes that
    # disagree), beside a label output: the share a rollout's max_divergence reads is the
    # differing share of the elements compared by share, whatever order they came in.
    metrics = GatewayMetrics()
    mad = Divergence("y", "mad", 0.1, 2, 0)
    mismatch = Divergence("y", "share", 1.0, 2, 2, mismatched=True)
    label = Divergence("label", "share", 0.25, 4, 1)
    for d in [mismatch, mad, label] if mismatch_first else [mad, mismatch, label]:
        metrics.divergence("d", "v1", "v2", d)
    (traffic,) = metrics.reading().shadows.values()
    assert (traffic.label_differing, traffic.label_elements) == (3, 6)
    assert (traffic.score_comparisons, traffic.score_mad_sum) == (1, 0.1)
