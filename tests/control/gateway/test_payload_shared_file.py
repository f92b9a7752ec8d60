"""Two deployments whose payload logs name the same JSONL file (``path: all.jsonl`` on each, a
natural way to keep one log: every event names its deployment) write one rotated file between
them: no event either delivered is lost to the other's rotation, and the files stay within
``max_size`` and ``max_files``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from inferd.control.gateway.payloads.rotating import RotatingFile
from inferd.control.replicas.topology import Topology
from inferd.spec.observability import LoggingSpec

from .conftest import (
    FRAUD_BODY,
    RawClient,
    ReplicaProcess,
    deployment,
    run,
    sample,
    started_gateway,
    topology,
    version,
)

MAX_SIZE = 4096
MAX_FILES = 40  # room for every event: none may be missing


def shared_log(topo: Topology) -> Topology:
    spec = LoggingSpec.model_validate(
        {"sink": {"file": {"path": "all.jsonl", "max_size": str(MAX_SIZE),
                           "max_files": MAX_FILES}}}
    )  # fmt: skip
    return Topology(
        {n: replace(d, payload_logging=spec) for n, d in topo.deployments.items()},
        topo.generation,
    )


def test_deployments_sharing_a_jsonl_file_lose_nothing_to_each_others_rotation(
    replicas: dict[str, list[ReplicaProcess]], tmp_path: Path
) -> None:
    requests = 40

    async def scenario() -> str:
        topo = shared_log(
            topology(
                deployment("a", version("v1", 100, *replicas["v1"], deployment="a")),
                deployment("b", version("v1", 100, *replicas["v2"], deployment="b")),
            )
        )
        gateway = await started_gateway(topo, payload_dir=tmp_path)
        client = RawClient(f"http://127.0.0.1:{gateway.port}")
        try:
            for _ in range(requests):
                for name in ("a", "b"):
                    path = f"/v2/models/{name}/infer"
                    assert (await client.request("POST", path, orjson.dumps(FRAUD_BODY)))[0] == 200
        finally:
            await client.close()
            await gateway.stop(5)  # delivers what is queued before it returns
        return gateway.metrics.render().decode()

    text = run(scenario)
    for name in ("a", "b"):
        delivered = sample(
            text, "inferd_gateway_payload_log_events_total", deployment=name, outcome="delivered"
        )
        assert delivered == 2 * requests
    files = list(tmp_path.iterdir())
    kept: dict[str, int] = {"a": 0, "b": 0}
    for file in files:
        data = file.read_bytes()
        assert len(data) <= MAX_SIZE and data.endswith(b"\n"), file.name
        for line in data.splitlines():
            kept[orjson.loads(line)["deployment"]] += 1
    # Each deployment's request and response events, every one of them still on disk.
    assert kept == {"a": 2 * requests, "b": 2 * requests}


@pytest.mark.parametrize("max_files", [1, 2])
def test_a_lower_max_files_removes_the_older_files_at_the_next_rotation(
    tmp_path: Path, max_files: int
) -> None:
    # Files of a run with max_files 5, then the spec lowered it (an apply or a restart).
    path = tmp_path / "p.jsonl"
    for n in range(1, 5):
        (tmp_path / f"p.jsonl.{n}").write_bytes(b"old\n")
    path.write_bytes(b"current\n")
    file = RotatingFile(path, max_bytes=10, max_files=max_files)
    file.write([b"new line\n"])  # 8 + 9 bytes: rotates first
    file.close()
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["p.jsonl", "p.jsonl.1"][:max_files]
    assert path.read_bytes() == b"new line\n"
    (tmp_path / "p.jsonl.10").write_bytes(b"x\n")  # not a file it numbered itself: kept
    (tmp_path / "p.jsonl.bak").write_bytes(b"x\n")
    file.write([b"new line\n"])
    file.close()
    assert {"p.jsonl.10", "p.jsonl.bak"} <= {p.name for p in tmp_path.iterdir()}
