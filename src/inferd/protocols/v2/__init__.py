"""Open Inference Protocol v2 over REST (JSON and the binary tensor extension), the repository,
statistics and generate extensions, KServe v1, and the OpenAPI document describing them.

The routers are in :mod:`inferd.protocols.v2.routes`. This package imports nothing itself:
``inferd.protocols.text_wire`` (shared with the OpenAI routes) reads ``v2.codec``, and the
routes import the OpenAI routes, so routers built here would close that loop and a module of
it imported first would meet the others half-initialised.
"""
