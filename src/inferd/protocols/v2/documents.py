"""The REST JSON documents of the metadata, repository and statistics endpoints.

Each function turns one data-plane value into the object the Open Inference Protocol (and, for
statistics, Triton) defines, keys in the order clients have always seen them. Inference bodies
are :mod:`inferd.protocols.v2.codec`'s.
"""

from __future__ import annotations

from inferd.card import TensorSpec
from inferd.serving.stats import InferStatistics, ModelStatistics, StatisticDuration
from inferd.serving.types import ModelInfo, RepositoryEntry, ServerInfo


def server_document(info: ServerInfo, extensions: tuple[str, ...] = ()) -> dict[str, object]:
    """``$metadata_server_response``, listing ``extensions`` too (those the transport adds)."""
    listed = [*info.extensions, *(e for e in extensions if e not in info.extensions)]
    return {"name": info.name, "version": info.version, "extensions": listed}


def model_document(info: ModelInfo) -> dict[str, object]:
    """``$metadata_model_response``."""
    return {
        "name": info.name,
        "versions": list(info.versions),
        "platform": info.platform,
        "inputs": [_tensor(spec) for spec in info.inputs],
        "outputs": [_tensor(spec) for spec in info.outputs],
    }


def index_document(entries: list[RepositoryEntry]) -> list[dict[str, str]]:
    """The repository index: ``[{name, version, state, reason}]``."""
    return [
        {"name": e.name, "version": e.version, "state": e.state.value, "reason": e.reason}
        for e in entries
    ]


def statistics_document(stats: list[ModelStatistics]) -> dict[str, object]:
    """Triton's ``{"model_stats": [...]}``."""
    return {"model_stats": [_model_statistics(s) for s in stats]}


def _tensor(spec: TensorSpec) -> dict[str, object]:
    return {"name": spec.name, "datatype": spec.datatype, "shape": list(spec.shape)}


def _duration(duration: StatisticDuration) -> dict[str, int]:
    return {"count": duration.count, "ns": duration.ns}


def _inference(stats: InferStatistics) -> dict[str, dict[str, int]]:
    return {
        "success": _duration(stats.success),
        "fail": _duration(stats.fail),
        "queue": _duration(stats.queue),
        "compute_input": _duration(stats.compute_input),
        "compute_infer": _duration(stats.compute_infer),
        "compute_output": _duration(stats.compute_output),
        "cache_hit": _duration(stats.cache_hit),
    }


def _model_statistics(stats: ModelStatistics) -> dict[str, object]:
    return {
        "name": stats.name,
        "version": stats.version,
        "last_inference": stats.last_inference,
        "inference_count": stats.inference_count,
        "execution_count": stats.execution_count,
        "inference_stats": _inference(stats.inference_stats),
        "batch_stats": [
            {
                "batch_size": b.batch_size,
                "compute_input": _duration(b.compute_input),
                "compute_infer": _duration(b.compute_infer),
                "compute_output": _duration(b.compute_output),
            }
            for b in stats.batch_stats
        ],
    }
