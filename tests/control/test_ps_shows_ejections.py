"""``inferd ps`` (the admin status document) says a replica is ejected as an outlier by the
gateway: it listed only the supervisor's view, where an ejected replica looked healthy and
ready while it took no traffic."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from inferd.control.admin.api import status_document
from inferd.control.admin.documents import UpStatus
from inferd.control.replicas.supervisor import Supervisor

EJECTED = "ejected by the gateway after 5 failures in a row, ejection 1, back in 27 s"


def _process(replica: str) -> SimpleNamespace:
    snapshot = SimpleNamespace(deployment="fraud", version="v1", id=replica, pid=100, port=9000,
                               state="ready", restarts=3, started_at=None, reason=None)  # fmt: skip
    launch = SimpleNamespace(deployment="fraud", version="v1")
    return SimpleNamespace(launch=launch, snapshot=lambda: snapshot)


def test_an_ejected_replica_says_so_and_the_others_keep_their_reason() -> None:
    routed = [SimpleNamespace(id="fraud-v1-0"), SimpleNamespace(id="fraud-v1-1")]
    version = SimpleNamespace(name="v1", reference="fraud:v1", weight=100, replicas=routed)
    supervisor = SimpleNamespace(
        routing=[SimpleNamespace(name="fraud", shadow=None, versions=[version])],
        replicas=lambda: [_process("fraud-v1-0"), _process("fraud-v1-1")],
        topology=SimpleNamespace(generation=2),
    )
    replicas = [{"id": "fraud-v1-0", "reason": EJECTED}, {"id": "fraud-v1-1", "reason": None}]
    seen: dict[str, Any] = {"deployments": [{"versions": [{"replicas": replicas}]}]}
    doc = status_document(cast(Supervisor, supervisor), lambda: cast(UpStatus, seen))
    reasons = {row["replica"]: row["reason"] for row in doc["replicas"]}
    assert reasons == {"fraud-v1-0": EJECTED, "fraud-v1-1": None}
