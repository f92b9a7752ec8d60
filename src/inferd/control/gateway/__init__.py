"""The gateway: weighted, sticky and A/B routing across versions, least-outstanding balancing
across replicas, shadow traffic with divergence metrics, aggregated metrics and the dashboard.

Decisions are pure functions (:mod:`.routing`, :mod:`.compare`); :class:`Gateway` is the thin
asynchronous shell around them that ``inferd up`` runs beside the supervisor;
:class:`GrpcGateway` serves the same deployments over gRPC beside it.
"""

from inferd.control.gateway.gateway import Gateway
from inferd.control.gateway.grpc_gateway import GrpcGateway

__all__ = ["Gateway", "GrpcGateway"]
