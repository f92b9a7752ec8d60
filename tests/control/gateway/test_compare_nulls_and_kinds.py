"""Shadow comparison: a KServe v1 answer's NaN (JSON null) and datatypes that disagree.

A v1 replica writes its float ``predictions`` with NaN and infinities as JSON ``null``, as a v2
one does; the v1 body carries no datatype, so those answers must still compare as floats (by
mean absolute difference), not element for element. And outputs whose datatypes disagree in
kind (a boolean against an integer, a string against a number) count as fully different, as
docs/gateway.md says, rather than comparing ``True`` equal to ``1``.
"""

from __future__ import annotations

import orjson
import pytest

from inferd.control.gateway.compare import compare, decode_outputs


def v1(predictions: object) -> tuple[dict[str, str], bytes]:
    return {}, orjson.dumps({"predictions": predictions})


def v2(datatype: str, data: list[object]) -> tuple[dict[str, str], bytes]:
    out = {"name": "y", "datatype": datatype, "shape": [len(data)], "data": data}
    return {}, orjson.dumps({"outputs": [out]})


def test_v1_float_predictions_with_a_null_compare_by_mean_absolute_difference() -> None:
    # Expected: the nulls agree (0), the other three pairs differ by 0.1, 0 and 0 → 0.1 / 4.
    (d,) = compare(
        decode_outputs(*v1([[0.5, None], [0.25, 1.0]])),
        decode_outputs(*v1([[0.6, None], [0.25, 1.0]])),
    )
    assert (d.kind, d.mismatched) == ("mad", False)
    assert d.value == pytest.approx(0.1 / 4)


def test_v1_float_predictions_with_equal_nulls_agree() -> None:
    (d,) = compare(decode_outputs(*v1([0.5, None])), decode_outputs(*v1([0.5, None])))
    assert (d.kind, d.value, d.differing) == ("mad", 0.0, 0)


def test_v1_a_null_against_a_number_is_fully_different() -> None:
    (d,) = compare(decode_outputs(*v1([0.5, 0.7])), decode_outputs(*v1([0.5, None])))
    assert (d.kind, d.value, d.mismatched) == ("share", 1.0, True)


def test_v1_string_and_object_predictions_still_compare_by_share() -> None:
    (d,) = compare(decode_outputs(*v1(["a", None])), decode_outputs(*v1(["b", None])))
    assert (d.kind, d.value) == ("share", 0.5)
    (d,) = compare(decode_outputs(*v1([{"a": 1}])), decode_outputs(*v1([{"a": 1}])))
    assert (d.kind, d.value) == ("share", 0.0)


@pytest.mark.parametrize(
    ("primary", "shadow"),
    [
        (v2("BOOL", [True, False]), v2("INT64", [1, 0])),
        (v2("INT64", [1, 0]), v2("BYTES", ["1", "0"])),
        (v2("BYTES", ["1", "0"]), v2("BOOL", [True, False])),
    ],
)
def test_outputs_whose_datatypes_differ_in_kind_are_fully_different(
    primary: tuple[dict[str, str], bytes], shadow: tuple[dict[str, str], bytes]
) -> None:
    (d,) = compare(decode_outputs(*primary), decode_outputs(*shadow))
    assert (d.kind, d.value, d.differing, d.mismatched) == ("share", 1.0, 2, True)


@pytest.mark.parametrize(
    ("primary", "shadow"),
    [
        (v2("INT32", [1, 0]), v2("INT64", [1, 1])),
        (v2("UINT8", [1, 0]), v2("INT64", [1, 1])),
    ],
)
def test_integers_of_other_widths_still_compare(
    primary: tuple[dict[str, str], bytes], shadow: tuple[dict[str, str], bytes]
) -> None:
    (d,) = compare(decode_outputs(*primary), decode_outputs(*shadow))
    assert (d.kind, d.value, d.mismatched) == ("share", 0.5, False)
