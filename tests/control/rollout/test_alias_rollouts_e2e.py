"""Rollouts and the tags people move, end to end (issue 12 items 2 and 3): a real `inferd up`
under load, the CLI, the store's history.

* A person moving ``fraud:production`` while a rollout runs is never overwritten by its
  promotion: the rollout is superseded (and says why), and the deployment that follows the alias
  rolls out where it points now.
* A rolled-back alias move is moved back in the store, so a restart, ``inferd serve
  fraud:production`` and the path ``inferd k8s render`` sets up (pods pull the alias published to
  a registry) all get the version that was serving, not the rejected one.
"""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from inferd.config import StoreSettings
from inferd.store import ModelStore
from store.remote.registry import start_registry

from ..conftest import INFERD, UpProcess, start_up
from .conftest import RandomLoad, rollout_store, spec_text
from .test_rollout_e2e import events, references, rollout, wait_finished, wait_new_rollout, weights

pytestmark = pytest.mark.slow

#: Feature 0 above 0.95 makes fraud:erroring fail (tests/control/rollout/models.py); v1 answers.
TRIPS_ERRORING = orjson.dumps(
    {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": [0.99] * 8}]}
)

#: The events a rollout ends with.
ENDINGS = ("promote", "rollback", "abort", "supersede", "failed")

FOLLOWS_PRODUCTION = """apiVersion: inferd.dev/v1
kind: Stack
gateway: {port: 0, drain_timeout: 10s}
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:production", replicas: 1}
    batching: {max_batch_size: 1}
    rollout:
      strategy: blue-green
      interval: 500ms
      analysis: {max_error_rate: 0.01, min_requests: 20}
      failure_limit: 2
"""


def up_with(tmp_path: Path, spec: str) -> tuple[UpProcess, ModelStore]:
    """`inferd up` of ``spec`` over the rollout store, with fraud:production on fraud:v1."""
    home = tmp_path / "home"
    store = rollout_store(home, tmp_path / "models")
    store.tag("fraud:v1", "fraud:production")
    path = tmp_path / "inferd.yaml"
    path.write_text(spec)
    return start_up(home, path), store


def production_moves(store: ModelStore) -> list[tuple[str | None, str | None, str | None]]:
    return [(e.old, e.new, e.detail) for e in store.history("fraud") if e.tag == "production"]


def answer(port: int, path: str = "/v2/models/fraud/infer") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, TRIPS_ERRORING)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_a_person_moving_production_supersedes_the_rollout_and_is_followed(
    tmp_path: Path,
) -> None:
    # An interval long enough for the `inferd tag` below to land first on a loaded machine
    # (with 5 s, a CLI start that took longer let the rollout promote over it).
    up, store = up_with(
        tmp_path, spec_text("fraud:v2", stable="fraud:production", strategy="blue-green",
                            interval="15s")
    )  # fmt: skip
    v1, divergent = (store.resolve(f"fraud:{t}").digest for t in ("v1", "divergent"))
    try:
        with RandomLoad(up.gateway_port) as load:
            started = rollout(up, "start")
            # Within the interval, by hand: the rollout must not promote over it.
            up.cli("tag", "fraud:divergent", "fraud:production")
            last = last_event(up, started["id"])
            assert last["event"] == "supersede", last
            assert f"fraud:production was moved to {divergent[:19]}" in last["reason"]
            assert f"it named {v1[:19]} when the rollout began" in last["reason"]
            # v2 lost its mirror (the follow-up may have added v1-next at 0 already).
            assert {v: w for v, w in weights(up).items() if v != "v1-next"} == {"v1": 100, "v2": 0}
            # The move stands, and it is the last production move in the store's history.
            assert store.resolve("fraud:production").digest == divergent
            assert production_moves(store)[-1] == (v1, divergent, None)
            # The deployment follows the alias: a rollout of where it points now.
            follow = wait_new_rollout(up, started["id"])
            assert follow["cause"] == "alias fraud:production moved"
            assert wait_finished(up)["phase"] == "promoted"
            statuses, _ = load.since(0)
        assert references(up)["v1"] == f"fraud:production@{divergent}"
        assert store.resolve("fraud:production").digest == divergent
        assert set(statuses) == {"200"}, statuses
        history = up.cli("rollout", "history", "fraud").stdout
        assert "supersede" in history and "the move stands" in history
    finally:
        assert up.stop() == 0


def test_a_rejected_alias_move_is_moved_back_so_nothing_deploys_it(tmp_path: Path) -> None:
    up, store = up_with(tmp_path, FOLLOWS_PRODUCTION)
    v1, bad = (store.resolve(f"fraud:{t}").digest for t in ("v1", "erroring"))
    try:
        with RandomLoad(up.gateway_port) as load:
            up.cli("tag", "fraud:erroring", "fraud:production")
            status = wait_started(up)
            assert status["cause"] == "alias fraud:production moved"
            status = wait_finished(up)
            statuses, _ = load.since(0)
        assert status["phase"] == "rolled_back", status
        assert set(statuses) == {"200"}, statuses  # blue-green: the candidate only mirrored
        # What would deploy fraud:production now gets the version that was serving.
        assert inferd_serve_answers(up.home) == 200
        assert kubernetes_pods_get(up.home, tmp_path) == v1
        assert store.resolve("fraud:production").digest == v1
        old, new, detail = production_moves(store)[-1]
        assert (old, new) == (bad, v1) and detail is not None and status["id"] in detail
        last = events(up, status["id"])[-1]
        assert last["event"] == "rollback" and last["reverted"] == "fraud:production"
        assert last["reverted_to"] == f"fraud@{v1}"
        moved_back = f"fraud:production moved back to fraud@{v1[:19]}"
        assert moved_back in up.cli("rollout", "history", "fraud").stdout
    finally:
        assert up.stop() == 0
    # A restart pins fraud:production again: the version that was serving, no rollout.
    again = start_up(up.home, tmp_path / "inferd.yaml")
    try:
        assert answer(again.gateway_port) == 200
        time.sleep(1.5)  # the alias watcher has looked
        assert again.cli("rollout", "status", "fraud", check=False).returncode == 3
    finally:
        assert again.stop() == 0


def last_event(up: UpProcess, rollout_id: str, timeout: float = 40) -> dict[str, Any]:
    """The event that ended rollout ``rollout_id`` (another may have started since)."""
    deadline = time.monotonic() + timeout
    while True:
        found = events(up, rollout_id)
        if found and found[-1]["event"] in ENDINGS:
            return found[-1]
        assert time.monotonic() < deadline, found
        time.sleep(0.2)


def wait_started(up: UpProcess, timeout: float = 30) -> dict[str, Any]:
    """The first rollout of a deployment that had none."""
    deadline = time.monotonic() + timeout
    while True:
        found = up.cli("rollout", "status", "fraud", "--json", check=False)
        if found.returncode == 0:
            return dict(orjson.loads(found.stdout))
        assert time.monotonic() < deadline, "no rollout started"
        time.sleep(0.2)


def inferd_serve_answers(home: Path) -> int:
    """`inferd serve fraud:production` from this store: the status of a request that only
    fraud:erroring fails."""
    env = {**os.environ, "INFERD_HOME": str(home)}
    log = home / "serve-test.log"
    command = [*INFERD, "serve", "fraud:production", "--port", "0", "--grpc-port", "0",
               "--no-control"]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        port = None
        while port is None:  # the port it bound: its own pick, which nothing else can hold
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
            found = re.search(r"data plane +http://127\.0\.0\.1:(\d+)", log.read_text())
            port = int(found.group(1)) if found else None
        while not ready(port):
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        return answer(port)
    finally:
        server.terminate()
        server.wait(30)


def ready(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/v2/health/ready")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def kubernetes_pods_get(home: Path, tmp_path: Path) -> str:
    """The digest a pod of the rendered spec gets: render, publish the alias to a registry as
    the rendered pods pull it, then run the pod's init container (`inferd tag REMOTE LOCAL`)
    in a fresh store."""
    with start_registry(tmp_path / "registry") as registry:
        env = {**os.environ, "INFERD_HOME": str(home), "INFERD_INSECURE_REGISTRIES": registry.host}
        rendered = subprocess.run(
            [*INFERD, "k8s", "render", str(tmp_path / "inferd.yaml"), "--registry", registry.host],
            env=env, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        (pod,) = [o for o in yaml.safe_load_all(rendered.stdout) if o["kind"] == "Deployment"]
        (init,) = pod["spec"]["template"]["spec"]["initContainers"]
        tag, remote, local = init["args"]
        assert (tag, remote) == ("tag", f"{registry.host}/fraud:production")
        subprocess.run([*INFERD, "tag", "fraud:production", remote], env=env, check=True,
                       capture_output=True, timeout=60)  # fmt: skip
        pod_home = tmp_path / "pod-home"
        pod_env = {**env, "INFERD_HOME": str(pod_home)}
        subprocess.run([*INFERD, "tag", remote, local], env=pod_env, check=True,
                       capture_output=True, timeout=60)  # fmt: skip
    return ModelStore.from_settings(StoreSettings(home=pod_home)).resolve(local).digest
