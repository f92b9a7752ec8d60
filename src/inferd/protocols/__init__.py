"""Wire formats only; every one calls the data plane (:class:`inferd.serving.types.DataPlane`).

- :mod:`inferd.protocols.http` — the HTTP/1.1 server (asyncio + uvloop + httptools).
- :mod:`inferd.protocols.v2` — Open Inference Protocol v2 REST (JSON and binary tensors), the
  repository, statistics and generate extensions, KServe v1, the OpenAPI document, the control
  guard.
- :mod:`inferd.protocols.grpc` — ``inference.GRPCInferenceService``.
- :mod:`inferd.protocols.openai` — OpenAI's API for language models;
  :mod:`inferd.protocols.text_wire` holds what it shares with v2's generate extension.
- :mod:`inferd.protocols.access` — API keys and TLS on the data plane's listeners (REST and
  gRPC), for ``inferd serve`` and ``inferd up``'s gateway alike.
"""
