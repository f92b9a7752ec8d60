"""A deployment at zero whose replica cannot start is not ready, and says why for as long.

A deployment that scales from zero counts as ready on the gateway's ``/v2/health/ready`` with no
replica (its first request waits for one). One whose start failed read ready all the same, and
once the restart backoff ran out ``inferd ps`` went back to "scaled to zero: the next request
starts one", while every request to it got 503: an operator saw nothing wrong. Now, as Knative
marks a revision whose pods cannot start, it is not ready until a replica of it is, and the
status keeps the failed start (``retry_in_s`` 0 once the backoff ran out).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from inferd.cli.control_cmds import _no_replica
from inferd.config import LimitSettings
from inferd.control.autoscale.coldstart import ColdStart
from inferd.control.autoscale.starts import StartFailures
from inferd.control.gateway import Gateway
from inferd.control.replicas.backoff import BackoffPolicy
from inferd.control.replicas.topology import DeploymentRoute, Replica, Topology, VersionRoute
from inferd.errors import Unavailable

CAUSE = "replica dead-v1-1 cannot start broken:v1: load raised RuntimeError"


def _topology(ready: bool) -> Topology:
    replicas = (Replica("dead-v1-1", "dead", "v1", "127.0.0.1", 1, "ready"),) if ready else ()
    version = VersionRoute("v1", "dead", "broken:v1", 100, replicas)
    return Topology({"dead": DeploymentRoute("dead", (version,))}, 1)


def test_the_failed_start_stays_in_the_status_after_its_backoff() -> None:
    now = [0.0]
    starts = StartFailures(lambda: BackoffPolicy(initial_s=0.5), clock=lambda: now[0])
    starts.failed(("dead", "v1"), CAUSE)
    assert starts.backing_off(("dead", "v1"))
    now[0] = 10.0  # the backoff ran out; no start has succeeded
    assert not starts.backing_off(("dead", "v1"))  # the next request may try again
    assert starts.failure(("dead", "v1")) == {"message": CAUSE, "failures": 1, "retry_in_s": 0.0}
    starts.succeeded(("dead", "v1"))
    assert starts.failure(("dead", "v1")) is None


def test_ps_says_the_next_request_tries_again() -> None:
    scaling = {"max_replicas": 2, "start_failure": {"message": CAUSE, "failures": 3,
               "retry_in_s": 0.0}, "cold_start_timeout_s": 60.0, "held": 0}  # fmt: skip
    replicas, state = _no_replica(scaling, None, 100)  # type: ignore[arg-type]
    assert (replicas, state) == ("0/2", f"start failed (3 in a row, the next request tries "
                                        f"again): {CAUSE}")  # fmt: skip


def test_the_gateway_is_not_ready_while_a_deployment_at_zero_cannot_start() -> None:
    gateway = Gateway("127.0.0.1", 0, limits=LimitSettings())
    cold = ColdStart(lambda _: 60.0, lambda _: None, CollectorRegistry())
    gateway.cold_start = cold
    at_zero = _topology(ready=False)
    gateway.update(at_zero)
    cold.update(at_zero)
    assert gateway.ready()  # at zero: its first request starts a replica and waits
    cold.fail("dead", "v1", Unavailable(CAUSE, retry_after=0.0))
    assert cold.start_failing("dead") and not gateway.ready()
    cold.update(at_zero)  # a topology without a ready replica of it changes nothing
    assert not gateway.ready()
    started = _topology(ready=True)
    gateway.update(started)
    cold.update(started)
    assert not cold.start_failing("dead") and gateway.ready()


def test_a_removed_version_is_not_held_against_its_deployment() -> None:
    cold = ColdStart(lambda _: 60.0, lambda _: None, CollectorRegistry())
    cold.fail("dead", "v1", Unavailable(CAUSE))
    cold.forget("dead", "v1")
    assert not cold.start_failing("dead") and not cold.needs_replica("dead")
