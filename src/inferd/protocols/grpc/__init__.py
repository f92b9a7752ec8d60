"""The gRPC transport: ``inference.GRPCInferenceService`` (Open Inference Protocol v2) over the
data plane. :func:`serve_grpc` starts a listener; the composition root owns its lifetime."""

from inferd.protocols.grpc.server import GrpcHandle, serve_grpc

__all__ = ["GrpcHandle", "serve_grpc"]
