"""OpenAI's API for the language models served: ``/v1/models``, ``/v1/chat/completions``,
``/v1/completions`` (both streamed as Server-Sent Events on request) and ``/v1/embeddings``,
with OpenAI's error shape. Each endpoint decodes, calls the data plane's generator, and encodes;
the route table is :func:`inferd.protocols.openai.routes.add_routes`."""
