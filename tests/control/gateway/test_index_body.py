"""``POST /v2/repository/index`` through the gateway reads its body as ``inferd serve`` does:
``ready`` is the only field, and any other (``ready_only``, Triton's ``repository_name``) is
refused naming it, not ignored (an index filtered by a misspelt field came back whole)."""

from __future__ import annotations

import httpx

from inferd.control.replicas.topology import Replica, VersionRoute

from .conftest import deployment, run, started_gateway, topology


def test_the_index_refuses_a_field_it_does_not_take() -> None:
    replica = Replica("v1-0", "fraud", "v1", "127.0.0.1", 1, "ready")
    topo = topology(deployment("fraud", VersionRoute("v1", "fraud", "fraud:v1", 100, (replica,))))

    async def scenario() -> dict[str, httpx.Response]:
        gateway = await started_gateway(topo)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as c:
                return {
                    body: await c.post("/v2/repository/index", content=body)
                    for body in (
                        '{"ready_only": true}',
                        '{"repository_name": "x"}',
                        "",
                        '{"ready": true}',
                    )
                }
        finally:
            await gateway.stop(5)

    r = run(scenario)
    for body, field in (('{"ready_only": true}', "ready_only"),
                        ('{"repository_name": "x"}', "repository_name")):  # fmt: skip
        assert r[body].status_code == 400, r[body].text
        assert r[body].json() == {
            "error": f"unknown field {field!r} in the body: it takes only 'ready'"
        }
    for body in ("", '{"ready": true}'):
        assert r[body].status_code == 200
        assert [(e["name"], e["version"]) for e in r[body].json()] == [("fraud", "v1")]
