"""Which key each endpoint needs: one table for REST routes and gRPC methods alike.

=========  ================================================  ====================================
rule       endpoints                                         a key must
=========  ================================================  ====================================
OPEN       health (``/v2/health/*``, vLLM's ``/health``,     — (probes carry no key)
           ServerLive/Ready)
ANY_KEY    server metadata (``/v2``), ``/v2/openapi.json``,  be valid
           ModelStreamInfer (served nowhere)
MODEL      every route or RPC naming a model/deployment      hold ``infer`` and that deployment
           (Triton's ModelConfig included)
BODY       OpenAI's completions, chat and embeddings, which  hold ``infer`` and the deployment
           name the model in the body's ``model``            the body names
EVERY      routes listing every deployment (repository       hold ``infer`` and every deployment
           index, statistics of all models), unknown ones
READ       ``/metrics``, the dashboard, ``/api/*``           hold ``read`` and every deployment
           (they show every deployment's series)             (OPEN with ``public_metrics``)
=========  ================================================  ====================================

A REST route is classified by its path template when the router is built, so a request pays
for no classification; a route nobody listed falls to the strictest data-plane rule (EVERY)
or, outside ``/v1`` and ``/v2``, to READ.
"""

from __future__ import annotations

import enum

from inferd.protocols.access.keyring import Need


class Rule(enum.Enum):
    OPEN = "open"
    ANY_KEY = "any key"
    MODEL = "model"
    BODY = "model named in the body"
    EVERY = "every"
    READ = "read"


#: Literal templates any valid key may read.
_ANY_KEY_PATHS = frozenset({"/v2", "/v2/openapi.json"})
#: OpenAI's routes, which name their model in the JSON body's ``model``.
_BODY_MODEL_PATHS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/embeddings"})
#: gRPC methods of ``inference.GRPCInferenceService`` and their rule (ModelStatistics without
#: a model name covers every model: :func:`need`).
GRPC_RULES: dict[str, Rule] = {
    "ServerLive": Rule.OPEN,
    "ServerReady": Rule.OPEN,
    "ServerMetadata": Rule.ANY_KEY,
    "ModelReady": Rule.MODEL,
    "ModelMetadata": Rule.MODEL,
    # Triton's, answered UNIMPLEMENTED (pointing to ModelMetadata) to a key for the model.
    "ModelConfig": Rule.MODEL,
    "ModelInfer": Rule.MODEL,
    # Served nowhere (the model servers stream nothing; the gateway answers UNIMPLEMENTED):
    # any valid key is told so, as for load and unload. A server that streamed would have to
    # check the model of each message.
    "ModelStreamInfer": Rule.ANY_KEY,
    "ModelStatistics": Rule.MODEL,
    # As REST's /v2/repository/models/{model}/load: the model named (which the data plane then
    # refuses, pointing to the control plane), not every deployment.
    "RepositoryModelLoad": Rule.MODEL,
    "RepositoryModelUnload": Rule.MODEL,
    "RepositoryIndex": Rule.EVERY,
}


def rest_rule(template: str, *, public_metrics: bool) -> Rule:
    """The rule of a REST route, from its path template."""
    if template == "/health" or template.startswith("/v2/health/"):
        return Rule.OPEN
    if template in _ANY_KEY_PATHS:
        return Rule.ANY_KEY
    if template in _BODY_MODEL_PATHS:
        return Rule.BODY
    if template.startswith(("/v1/", "/v2/")):
        return Rule.MODEL if "{model}" in template else Rule.EVERY
    return Rule.OPEN if public_metrics else Rule.READ


def grpc_rule(method: str) -> Rule:
    """The rule of a gRPC method (its bare name, e.g. ``ModelInfer``); unknown: EVERY."""
    return GRPC_RULES.get(method, Rule.EVERY)


def need(rule: Rule, model: str | None = None) -> Need | None:
    """What a request under ``rule`` naming ``model`` needs of a key; None: no key at all.
    MODEL with no model named (an empty gRPC ``model_name``) covers every deployment."""
    if rule is Rule.OPEN:
        return None
    if rule is Rule.ANY_KEY:
        return Need(None)
    if rule is Rule.READ:  # what these show covers every deployment: a limited key sees none
        return Need("read", every_deployment=True)
    if rule in (Rule.MODEL, Rule.BODY) and model:
        return Need("infer", model)
    return Need("infer", every_deployment=True)
