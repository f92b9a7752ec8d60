"""A model's readiness through the gateway while the version has no ready replica (it restarts,
or it cannot start) is answered as ``inferd serve`` answers a model that is not ready: 503
``{"name", "ready": false}`` with ``Retry-After`` (v2 ``…/ready`` and KServe v1's
``/v1/models/{m}``), not an error document that a probe reading ``ready`` cannot parse."""

from __future__ import annotations

import httpx

from inferd.control.replicas.topology import Replica, VersionRoute

from .conftest import deployment, run, started_gateway, topology


def test_readiness_of_a_version_without_a_ready_replica_is_ready_false() -> None:
    # A starting replica on a closed port: nothing may be asked of it.
    starting = Replica("v2-0", "fraud", "v2", "127.0.0.1", 9, "starting")
    ready = Replica("v1-0", "fraud", "v1", "127.0.0.1", 9, "ready")
    topo = topology(
        deployment(
            "fraud",
            VersionRoute("v1", "fraud", "fraud:v1", 100, (ready,)),
            VersionRoute("v2", "fraud", "fraud:v2", 0, (starting,)),
        ),
        deployment("scoring", VersionRoute("v1", "fraud", "fraud:v1", 100, (starting,))),
    )

    async def scenario() -> dict[str, httpx.Response]:
        gateway = await started_gateway(topo)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as c:
                return {
                    path: await c.get(path)
                    for path in (
                        "/v2/models/fraud/versions/v2/ready",
                        "/v2/models/scoring/ready",
                        "/v2/models/scoring/versions/v1/ready",
                        "/v1/models/scoring",
                        "/v2/models/scoring",  # metadata: the error, as inferd serve's
                    )
                }
        finally:
            await gateway.stop(5)

    r = run(scenario)
    for path, name in (("/v2/models/fraud/versions/v2/ready", "fraud"),
                       ("/v2/models/scoring/ready", "scoring"),
                       ("/v2/models/scoring/versions/v1/ready", "scoring"),
                       ("/v1/models/scoring", "scoring")):  # fmt: skip
        assert r[path].status_code == 503, (path, r[path].text)
        assert r[path].json() == {"name": name, "ready": False}, path
        assert r[path].headers["retry-after"] == "1"
    meta = r["/v2/models/scoring"]
    assert meta.status_code == 503 and "no ready replica" in meta.json()["error"]
