"""Routing: the most specific template owns a path, also for 405's ``Allow``."""

from __future__ import annotations

from inferd.protocols.http import Request, Response, Router


async def _ok(request: Request) -> Response:
    return Response(200)


def _router() -> Router:
    router = Router()
    router.add("GET", "/v1/models/{model}", _ok)
    router.add("POST", "/v1/models/{model}:predict", _ok)
    router.add("GET", "/v2/models/{model}/ready", _ok)
    router.add("POST", "/v2/models/{model}/infer", _ok)
    return router


def test_a_suffix_template_owns_its_paths() -> None:
    router = _router()
    route, params, _ = router.match("POST", "/v1/models/fraud:predict")
    assert route is not None and route.template == "/v1/models/{model}:predict"
    assert params == {"model": "fraud"}
    # not metadata of a model named "fraud:predict", and a 405 that allows POST only
    route, _, allowed = router.match("GET", "/v1/models/fraud:predict")
    assert route is None
    assert allowed == ["POST"]
    route, _, allowed = router.match("OPTIONS", "/v1/models/fraud:predict")
    assert (route, allowed) == (None, ["POST"])


def test_plain_parameters_still_match_and_list_their_methods() -> None:
    router = _router()
    route, params, _ = router.match("GET", "/v1/models/fraud")
    assert route is not None and params == {"model": "fraud"}
    assert router.match("DELETE", "/v1/models/fraud")[2] == ["GET"]
    assert router.match("GET", "/v2/models/fraud/infer")[2] == ["POST"]
    assert router.match("GET", "/v3/nothing")[2] == []


def test_a_model_name_with_slashes_spans_segments_only_where_nothing_else_fits() -> None:
    """A store name may have path components (``team/fraud``); tritonclient leaves the ``/``
    unencoded, so the name's segments are taken together when no template fits segment for
    segment."""
    router = _router()
    router.add("GET", "/v2/models/{model}/versions/{version}", _ok)
    route, params, _ = router.match("POST", "/v2/models/team/fraud/infer")
    assert route is not None and route.template == "/v2/models/{model}/infer"
    assert params == {"model": "team/fraud"}
    route, params, _ = router.match("POST", "/v2/models/team%2Ffraud/infer")
    assert params == {"model": "team/fraud"}
    route, params, _ = router.match("GET", "/v2/models/a/b/c/ready")
    assert params == {"model": "a/b/c"}
    route, params, _ = router.match("POST", "/v1/models/team/fraud:predict")
    assert route is not None and route.template == "/v1/models/{model}:predict"
    assert params == {"model": "team/fraud"}
    # A path that fits segment for segment keeps its meaning.
    route, params, _ = router.match("GET", "/v2/models/fraud/versions/3")
    assert route is not None and params == {"model": "fraud", "version": "3"}
    route, params, _ = router.match("GET", "/v2/models/team/fraud/versions/3")
    assert params == {"model": "team/fraud", "version": "3"}
    assert router.match("GET", "/v3/team/fraud")[2] == []  # still a 404


def test_an_empty_segment_is_a_missing_name_not_part_of_one() -> None:
    """``/v2/models//infer`` (``$MODEL`` unset in a script) is a 404, not a 405 for a GET of
    a model named ``/infer``."""
    router = _router()
    router.add("GET", "/v2/models/{model}", _ok)
    assert router.match("POST", "/v2/models//infer") == (None, {}, [])
    assert router.match("GET", "/v2/models//ready") == (None, {}, [])
    route, params, _ = router.match("POST", "/v2/models/team/fraud/infer")
    assert route is not None and params == {"model": "team/fraud"}
