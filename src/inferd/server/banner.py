"""What ``inferd serve`` prints once it is up: where each plane listens and a curl that works."""

from __future__ import annotations

import shlex

import orjson

from inferd.addresses import url_host
from inferd.errors import NotFound
from inferd.runtimes.warmup import (
    example_request,
    guessed_shapes,
    model_known_values,
    unknown_strings,
)
from inferd.server.composition import Server
from inferd.serving.stats import VersionState


def startup_lines(server: Server) -> list[str]:
    """What the operator needs to know: where each plane listens and a curl that works."""
    s = server.settings
    door = server.front_door
    base = f"{door.scheme}://{url_host(s.host)}:{server.port}"
    lines = [f"data plane  {base}  (OIP v2 REST; /metrics, /v2/health/ready, /v2/openapi.json)"]
    if server.grpc_port is not None:
        lines.append(f"gRPC        {url_host(s.host)}:{server.grpc_port}")
    lines.append(f"access      {door.describe()}")
    if server.control_port is not None:
        grpc = (
            f", gRPC {url_host(s.control_host)}:{server.control_grpc_port}"
            if server.control_grpc_port is not None
            else ""
        )
        lines.append(
            f"control     http://{url_host(s.control_host)}:{server.control_port}{grpc}  "
            f"(bearer token in {server.token_path})"
        )
    for entry in server.dataplane.repository_index():
        if entry.state is not VersionState.READY:
            lines.append(f"model {entry.name}:{entry.version} {entry.state.value}: {entry.reason}")
    for reference, error in server.failures:
        if isinstance(error, NotFound):  # no index row: the store does not hold it
            lines.append(f"model {reference} not served: {error.message}")
    names = sorted({e.name for e in server.dataplane.repository_index(ready_only=True)})
    served = server.manager.get(names[0]) if names else None
    artifact = served.artifact if served is not None else None
    if served is not None and artifact is not None:
        key = ' -H "Authorization: Bearer $INFERD_KEY"' if door.requires_keys else ""
        if artifact.card.llm is not None:  # a language model: OpenAI's chat API
            body = orjson.dumps(
                {"model": names[0], "messages": [{"role": "user", "content": "Hello!"}]}
            ).decode()
            path = "/v1/chat/completions"
        else:
            signature = artifact.card.signature
            known = model_known_values(served.model)
            body = orjson.dumps(example_request(signature, known=known)).decode()
            path = f"/v2/models/{names[0]}/infer"
        lines.append(  # quoted for a POSIX shell: a known category may hold a quote (O'Brien)
            f"try: curl -s -X POST {base}{path}{key} "
            f"-H 'Content-Type: application/json' -d {shlex.quote(body)}"
        )
        if artifact.card.llm is None:
            lines.extend(_placeholders(names[0], unknown_strings(signature, known)))
            lines.extend(_guessed(names[0], guessed_shapes(signature)))
    return lines


def _guessed(model: str, inputs: list[str]) -> list[str]:
    """A note for inputs with open dimensions past the batch, which the example fills with 1s:
    a model that needs more (a convolution over an image) refuses it."""
    if not inputs:
        return []
    return [
        f"note: {model} leaves dimensions of {', '.join(inputs)} open; the example sends size "
        "1 there, which a model may refuse (an image under a convolution): send your real shape"
    ]


def _placeholders(model: str, inputs: list[str]) -> list[str]:
    """A note for BYTES inputs the example fills with empty strings: the model does not tell
    what it takes there, and one fitted on categories may refuse them (a 400 naming them)."""
    if not inputs:
        return []
    names = ", ".join(repr(name) for name in inputs)
    return [
        f"note: {model} does not tell which strings it takes in {names}; the example sends "
        "empty strings there, which a model fitted on categories refuses: put in real values"
    ]
