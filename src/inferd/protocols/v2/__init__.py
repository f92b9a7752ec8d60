"""Open Inference Protocol v2 over REST (JSON and the binary tensor extension), the repository,
statistics and generate extensions, KServe v1, and the OpenAPI document describing them."""

from inferd.protocols.v2.routes import control_router, data_router

__all__ = ["control_router", "data_router"]
