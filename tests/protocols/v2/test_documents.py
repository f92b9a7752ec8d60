"""The REST JSON documents of the metadata, repository and statistics endpoints."""

from __future__ import annotations

import orjson

from inferd.card import TensorSpec
from inferd.protocols.v2.documents import (
    index_document,
    model_document,
    server_document,
    statistics_document,
)
from inferd.serving.stats import VersionState, VersionStats
from inferd.serving.types import ModelInfo, RepositoryEntry, ServerInfo


def test_server_document_adds_the_transports_extensions_once() -> None:
    info = ServerInfo("inferd", "1.2.3", ("binary_tensor_data", "statistics"))
    document = server_document(info, ("binary_tensor_data", "extra"))
    assert orjson.dumps(document) == (
        b'{"name":"inferd","version":"1.2.3",'
        b'"extensions":["binary_tensor_data","statistics","extra"]}'
    )


def test_model_document() -> None:
    x = TensorSpec(name="x", datatype="FP32", shape=(-1, 4))
    y = TensorSpec(name="y", datatype="INT64", shape=(-1,))
    info = ModelInfo("m", ("v1", "v2"), "onnx_onnxv1", (x,), (y,))
    assert orjson.dumps(model_document(info)) == (
        b'{"name":"m","versions":["v1","v2"],"platform":"onnx_onnxv1",'
        b'"inputs":[{"name":"x","datatype":"FP32","shape":[-1,4]}],'
        b'"outputs":[{"name":"y","datatype":"INT64","shape":[-1]}]}'
    )


def test_index_document() -> None:
    entries = [
        RepositoryEntry("m", "v1", VersionState.READY),
        RepositoryEntry("m", "v2", VersionState.FAILED, "no such file"),
    ]
    assert orjson.dumps(index_document(entries)) == (
        b'[{"name":"m","version":"v1","state":"READY","reason":""},'
        b'{"name":"m","version":"v2","state":"FAILED","reason":"no such file"}]'
    )


def test_statistics_document_has_tritons_shape() -> None:
    stats = VersionStats()
    stats.record_batch(rows=3, compute_ns=900, finished_ms=1700000000000)
    stats.record_batch(rows=1, compute_ns=200, finished_ms=1700000000005)
    # As Triton counts them: queue and compute_infer per successful request, each charged its
    # batch's compute time (three requests in the batch of 3, one alone).
    stats.record_answers(3, queue_ns=300, compute_ns=900)
    stats.record_answers(1, queue_ns=0, compute_ns=200)
    stats.success.add(5000, count=4)
    stats.fail.add(70)
    zero = {"count": 0, "ns": 0}
    assert orjson.loads(orjson.dumps(statistics_document([stats.snapshot("m", "v1")]))) == {
        "model_stats": [
            {
                "name": "m",
                "version": "v1",
                "last_inference": 1700000000005,
                "inference_count": 4,
                "execution_count": 2,
                "inference_stats": {
                    "success": {"count": 4, "ns": 5000},
                    "fail": {"count": 1, "ns": 70},
                    "queue": {"count": 4, "ns": 300},
                    "compute_input": zero,
                    "compute_infer": {"count": 4, "ns": 2900},
                    "compute_output": zero,
                    "cache_hit": zero,
                },
                "batch_stats": [
                    {
                        "batch_size": 1,
                        "compute_input": {"count": 1, "ns": 0},
                        "compute_infer": {"count": 1, "ns": 200},
                        "compute_output": {"count": 1, "ns": 0},
                    },
                    {
                        "batch_size": 3,
                        "compute_input": {"count": 1, "ns": 0},
                        "compute_infer": {"count": 1, "ns": 900},
                        "compute_output": {"count": 1, "ns": 0},
                    },
                ],
            }
        ]
    }
