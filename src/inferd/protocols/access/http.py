"""API keys on REST: every route of a router wrapped with the check its rule needs.

Refusals follow RFC 6750 and RFC 9110: 401 with ``WWW-Authenticate: Bearer realm="inferd"``
(and ``error="invalid_token"`` when a key was presented but is not valid), 403 for a key outside
its scope, 429 with ``Retry-After`` for a key past its rate. Routes a browser opens (the
dashboard, ``/api/*``, ``/metrics``) also offer ``Basic``, so the browser asks for the key once
(as the password) and sends it with every request of the page. On OpenAI's routes the body is
in OpenAI's shape, as every other answer there (``{"error": {"message", "type", "code"}}``),
so OpenAI's clients show the reason.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from inferd.errors import InferdError, PermissionDenied, Unsupported
from inferd.protocols.access.keyring import KeyRing, Need, NoKey, check_scope
from inferd.protocols.access.rules import Rule, need, rest_rule
from inferd.protocols.http import Handler, Request, Response, Router
from inferd.protocols.http.messages import openai_path, response_for_error
from inferd.protocols.http.refusal import Screen
from inferd.protocols.http.router import HeadCheck
from inferd.protocols.openai.errors import error_response as openai_error_response
from inferd.protocols.text_wire import InvalidField

_BEARER = (b"www-authenticate", b'Bearer realm="inferd"')
_BEARER_INVALID = (b"www-authenticate", b'Bearer realm="inferd", error="invalid_token"')
_BASIC = (b"www-authenticate", b'Basic realm="inferd", charset="UTF-8"')
#: OpenAI's routes, whose every answer is in OpenAI's shape (``/v1/models/{model}`` is KServe
#: v1's readiness too, and keeps the shape of the protocol's other routes).
_OPENAI_PATHS = frozenset(
    {"/v1/models", "/v1/chat/completions", "/v1/completions", "/v1/embeddings"}
)
_MODEL_LIST = "/v1/models"
#: OpenAI's retrieve of one model id, which may name a version (``llm:support-v3``, as the
#: list gives it): the key needs the model, as for the body's ``model`` (:func:`model_of`).
_MODEL_ID = "/v1/models/{model}"


def protect(router: Router, keys: KeyRing, *, public_metrics: bool) -> Router:
    """A router with ``router``'s routes, each behind the key its rule needs
    (:mod:`inferd.protocols.access.rules`)."""
    guarded = Router()
    for route in router.routes:
        rule = rest_rule(route.template, public_metrics=public_metrics)
        openai = route.template in _OPENAI_PATHS
        if (route.method, route.template) == ("GET", _MODEL_LIST):
            handler = _listing(route.handler, keys)
        elif rule is Rule.OPEN:
            handler = route.handler
        else:
            handler = _guarded(route.handler, keys, rule, openai, route.template == _MODEL_ID)
        head = route.head
        if head is not None and rule is not Rule.OPEN:
            head = _head_with_key(head, keys, rule, openai, route.template == _MODEL_ID)
        guarded.add(route.method, route.template, handler, route.doc, head)
    return guarded


def _listing(handler: Handler, keys: KeyRing) -> Handler:
    """OpenAI's model list: any key with the ``infer`` scope may ask, and is answered the
    deployments it may use (as OpenAI lists the models a key can use). OpenAI's clients and
    tools list models at start: a key scoped to some deployments was refused (403)."""

    async def check(request: Request) -> Response:
        try:
            key = await keys.authorize(request.headers.get("authorization"), Need("infer"))
        except InferdError as exc:
            return refusal(exc, openai=True)
        response = await handler(request)
        if key is None or key.deployments is None or response.status != 200:
            return response
        document = orjson.loads(response.body)
        allowed = set(key.deployments)
        document["data"] = [m for m in document["data"] if model_of(m.get("id", "")) in allowed]
        return Response(200, orjson.dumps(document), response.content_type, response.headers)

    return check


def _head_with_key(
    head: HeadCheck, keys: KeyRing, rule: Rule, openai: bool, ids: bool = False
) -> HeadCheck:
    """``head`` behind the key ``rule`` needs. While no key is required it answers as without
    keys (an unknown model, a media type not spoken: the final answer instead of ``100
    Continue``). Once keys are required it is asked only for a key already verified that may
    use the route; one it may not use is refused by its head too (403, nothing taken from its
    rate). A key not verified yet is checked with the body: no answer tells a key what it may
    not see (whether a model exists) before the key is checked."""

    def check(request: Request) -> Response | None:
        if not keys.enforcing:
            return head(request)
        record = keys.known(request.headers.get("authorization"))
        if record is None:
            return None
        model = request.params.get("model")
        if ids and model:
            model = model_of(model)
        # The body names the model of BODY's routes: the head checks the scope alone.
        wanted = Need("infer") if rule is Rule.BODY else need(rule, model)
        try:
            if wanted is not None:
                check_scope(record, wanted)
        except InferdError as exc:
            return refusal(exc, browser=rule is Rule.READ, openai=openai)
        return head(request)

    return check


def _guarded(
    handler: Handler, keys: KeyRing, rule: Rule, openai: bool, ids: bool = False
) -> Handler:
    """``handler`` behind the key ``rule`` needs; ``ids``: the path's model is an OpenAI model
    id, whose version (``llm:v3``) the key need not name."""

    async def check(request: Request) -> Response:
        model = body_model(request.body) if rule is Rule.BODY else request.params.get("model")
        if ids and model:
            model = model_of(model)
        if rule is Rule.BODY and model is None:
            return await _nameless(handler, keys, request)
        wanted = need(rule, model)
        if wanted is not None:
            try:
                await keys.authorize(request.headers.get("authorization"), wanted)
            except InferdError as exc:
                denied = isinstance(exc, PermissionDenied) and rule is Rule.MODEL
                if denied and await _configured(keys, request, model):
                    return await _unsupported_config(handler, request, exc)
                return refusal(exc, browser=rule is Rule.READ, openai=openai)
        return await handler(request)

    return check


def _config_of(model: str | None) -> str | None:
    """The model whose Triton configuration ``model`` asks for: ``GET
    /v2/models/{m}[/versions/{v}]/config`` reaches the metadata route as the model
    ``m/config`` (or ``m/versions/v/config``): ``m``; else None."""
    base, _, last = (model or "").rpartition("/")
    if last != "config" or not base:
        return None
    return base.rpartition("/versions/")[0] or base


async def _configured(keys: KeyRing, request: Request, model: str | None) -> bool:
    """Whether the request asks for the configuration of a model its key may use (the one
    check of the request's key that passes, so it takes from the key's rate)."""
    base = _config_of(model)
    if base is None:
        return False
    try:
        await keys.authorize(request.headers.get("authorization"), Need("infer", base))
    except InferdError:
        return False
    return True


async def _unsupported_config(handler: Handler, request: Request, denied: InferdError) -> Response:
    """The handler's answer that the configuration extension is not supported (the same as
    without keys); any other answer (a model really named ``m/config``) is the key's refusal
    ``denied``."""
    try:
        await handler(request)
    except Unsupported as exc:
        return response_for_error(exc)
    except InferdError:
        pass
    return refusal(denied)


async def _nameless(handler: Handler, keys: KeyRing, request: Request) -> Response:
    """An OpenAI request whose body names no model: a key for every deployment gets the
    handler's answer (which says what is wrong with the body); a key limited to some is told
    the same here (it was refused as if it had asked for every deployment), never the handler's.
    """
    try:
        key = await keys.authorize(request.headers.get("authorization"), Need("infer"))
    except InferdError as exc:
        return refusal(exc, openai=True)
    if key is None or key.deployments is None:
        return await handler(request)
    problem = InvalidField(
        "model",
        "the request names no model: send a JSON object whose 'model' is a deployment's name "
        f"(API key {key.name!r} may use {', '.join(key.deployments)})",
    )
    return refusal(problem, openai=True)


def keyless_screen(router: Router, keys: KeyRing, *, public_metrics: bool) -> Screen:
    """Refuses a request whose credentials name no key, where keys are enforced, as soon as its
    head is read: none at all, not an inferd token, an unknown key id, or a token already found
    wrong (:meth:`KeyRing.refusal_at_sight`, no hashing). The 401 it would get anyway comes
    before its body (up to ``limits.max_body_bytes``) is read or counted against the process's
    body budget, which clients without a key could otherwise fill, turning paying clients away
    with 503s (any ``Authorization`` header at all once passed this screen). A path no route
    serves falls to the strictest rule here too. Other credentials are checked by
    :func:`protect` once read (a rule may need the body's ``model``)."""

    def screen(method: str, path: str, headers: Mapping[str, str]) -> Response | None:
        refused = keys.refusal_at_sight(headers.get("authorization"))
        if refused is None:
            return None
        # HEAD is answered as GET (the server's dispatch): the GET route's rule applies.
        route, _, _ = router.match("GET" if method == "HEAD" else method, path)
        rule = (
            Rule.EVERY
            if route is None
            else rest_rule(route.template, public_metrics=public_metrics)
        )
        if rule is Rule.OPEN:
            return None
        # A path no route serves: the shape its 404 or 405 would have (OpenAI's under /v1/).
        openai = route.template in _OPENAI_PATHS if route is not None else openai_path(path)
        return refusal(refused, browser=rule is Rule.READ, openai=openai)

    return screen


def body_model(body: bytes | bytearray) -> str | None:
    """The ``model`` an OpenAI request body names, if it is a JSON object naming one (else the
    request needs a key for every deployment, and its handler answers what is wrong with it)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    model = document.get("model") if isinstance(document, dict) else None
    return model_of(model) if isinstance(model, str) and model else None


def model_of(model_id: str) -> str:
    """The model an OpenAI model id names, which a key's deployments are: ``llm`` for
    ``llm:support-v3`` (a version of it, as ``inferd serve`` lists them); an id with nothing
    before its ``:`` is kept whole (its handler refuses it)."""
    name, colon, _ = model_id.partition(":")
    return name if colon and name else model_id


def refusal(error: InferdError, *, browser: bool = False, openai: bool = False) -> Response:
    """The response for a refused key: a 401 carries its challenges; ``openai``: the body in
    OpenAI's shape."""
    response = openai_error_response(error) if openai else response_for_error(error)
    if response.status == 401:
        response.headers.append(_BEARER if isinstance(error, NoKey) else _BEARER_INVALID)
        if browser:
            response.headers.append(_BASIC)
    return response
