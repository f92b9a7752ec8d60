"""What a replica runs: the ``inferd serve`` command line and the settings file beside it, or
an external engine's command line (:mod:`.engines`).

Each version gets one YAML settings file (``inferd serve --config``) holding what has no flag —
device, intra-op threads, batching, drain and request timeouts — with every listener but the
data plane's REST and gRPC ports off or on a free port (the gateway proxies REST to the one
and gRPC to the other). Both ports are chosen per start, so a restarted replica never waits for
its old ports.

The replicas' drain is the supervisor's to end (:data:`REPLICA_DRAIN_S`): ``gateway.drain_timeout``
may change by an apply while they run, and each stop uses the value in force then.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import yaml

from inferd.config import ServerSettings, TracingSettings
from inferd.control.replicas.engine_metrics import EngineSeries
from inferd.control.replicas.engines import HEALTH_PATH, EngineLaunch
from inferd.control.replicas.leftovers import MARK as LEFTOVER_MARK
from inferd.reference import Reference
from inferd.serving.source import DIGEST_VERSION_CHARS
from inferd.spec.model import DeploymentSpec, VersionSpec

#: Runs the CLI of the interpreter running the supervisor, so replicas use the same install.
_ENTRY = "import sys; from inferd.cli import main; sys.exit(main(prog_name='inferd'))"

#: The ``drain_timeout_s`` an ``inferd up`` replica is started with: longer than any drain, so
#: the replica never ends one on its own. The supervisor ends it (SIGKILL) after the drain
#: timeout in force when it stops the replica, as a kubelet ends a pod's after the grace period
#: of its deletion; a value fixed at start would outlive an apply that changes
#: ``gateway.drain_timeout``. It bounds only a replica whose ``inferd up`` died (SIGKILL).
REPLICA_DRAIN_S = 24 * 3600.0
#: Resource attributes OpenTelemetry's SDK adds to every span of a process (``k=v,k=v``).
RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES"


@dataclass(frozen=True, slots=True)
class ReplicaLaunch:
    """Everything needed to start one more replica of a version."""

    deployment: str
    version: str
    #: The model name replicas serve (the reference's name).
    model: str
    #: The reference as written in the spec (shown to users).
    reference: str
    #: The reference pinned to a digest (``name:tag@sha256:…``), so every replica of this
    #: launch serves the same bytes even if the tag moves meanwhile.
    pinned: str
    #: ``inferd serve --config``'s file (None: an engine replica, which takes none).
    config: Path | None
    log_dir: Path
    home: Path
    host: str = "127.0.0.1"
    #: The spec trusts this version's code: replicas get ``--trust-code`` on the pinned digest.
    trust_code: bool = False
    #: An external engine runs instead of ``inferd serve`` (the spec's ``llm.engine``).
    engine: EngineLaunch | None = None

    @property
    def health_path(self) -> str:
        """Where readiness is probed: 200 once the replica's model is loaded."""
        return HEALTH_PATH if self.engine is not None else "/v2/health/ready"

    @property
    def serves_grpc(self) -> bool:
        """``inferd serve`` serves OIP over gRPC too; engines serve HTTP only."""
        return self.engine is None

    @property
    def engine_series(self) -> EngineSeries | None:
        """How the gateway maps an engine replica's metrics (None: ``inferd serve``)."""
        if self.engine is None:
            return None
        return EngineSeries(self.engine.engine, self.model, self.tag)

    @property
    def tag(self) -> str:
        """The version label of the replica's series, as ``inferd serve`` labels the version
        it serves: the reference's tag, else the start of its digest."""
        ref = Reference.parse(self.pinned)
        if ref.tag is not None:
            return ref.tag
        assert ref.digest is not None  # pinned: always a digest
        return ref.digest.removeprefix("sha256:")[:DIGEST_VERSION_CHARS]

    def command(self, port: int, grpc_port: int) -> list[str]:
        if self.engine is not None:
            return self.engine.command(self.host, port)
        assert self.config is not None  # written for every inferd serve launch
        trust = ["--trust-code", self.pinned] if self.trust_code else []
        return [
            sys.executable, "-c", _ENTRY, "serve", self.pinned,
            "--host", self.host, "--port", str(port), "--grpc-port", str(grpc_port),
            "--config", str(self.config), *trust,
        ]  # fmt: skip

    def environment(self, replica: str) -> dict[str, str]:
        """The supervisor's environment with the same store; ``INFERD_*`` overrides that would
        fight the launch (ports, hosts) are dropped, and so is OTEL_EXPORTER_OTLP_ENDPOINT
        (``inferd serve`` reads it as a flag, which would beat the settings file's tracing).
        ``INFERD_LIMITS__*`` are kept: the gateway applies them too (``inferd up``). The
        ``replica``'s id is a resource attribute of its spans (``inferd.replica``, added to any
        OTEL_RESOURCE_ATTRIBUTES given), so a span leads to ``up/logs/<replica>.log``."""
        env = {k: v for k, v in os.environ.items() if not _overrides_launch(k)}
        env["INFERD_HOME"] = str(self.home)
        env[LEFTOVER_MARK] = str(self.home)  # the next inferd up finds it, should it be left
        given = env.get(RESOURCE_ATTRIBUTES, "").strip().rstrip(",")
        env[RESOURCE_ATTRIBUTES] = ",".join(filter(None, [given, f"inferd.replica={replica}"]))
        return env


def _overrides_launch(key: str) -> bool:
    if key == "OTEL_EXPORTER_OTLP_ENDPOINT":
        return True
    if key.startswith("INFERD_LIMITS__"):
        return False
    return key.startswith("INFERD_") and key != "INFERD_HOME"


def server_settings(
    deployment: DeploymentSpec,
    drain_timeout_s: float,
    tracing: TracingSettings | None = None,
    access_log: str | None = None,
) -> dict[str, Any]:
    """The ``inferd serve --config`` document for a deployment's replicas.

    Replicas need only their data-plane ports, REST and gRPC (chosen per start, given on the
    command line): every other listener the server has (control REST, control gRPC…) is
    switched off where the setting allows None, and put on a free port (0) otherwise, so
    replicas never collide on a default port.
    """
    document: dict[str, Any] = {
        name: None if types.NoneType in get_args(info.annotation) else 0
        for name, info in ServerSettings.model_fields.items()
        if name.endswith("_port") and name != "port"
    }
    document.update(
        device=deployment.runtime.device,
        intra_op_threads=deployment.runtime.threads,
        batching=deployment.batching.model_dump(),
        drain_timeout_s=drain_timeout_s,
    )
    if deployment.llm is not None:  # engine inferd: slots and context of the llamacpp runtime
        document["llm"] = {
            "max_num_seqs": deployment.llm.max_num_seqs,
            "max_model_len": deployment.llm.max_model_len,
        }
        if deployment.llm.max_waiting_seqs is not None:
            document["llm"]["max_waiting_seqs"] = deployment.llm.max_waiting_seqs
    if deployment.request_timeout is not None:  # a replica serves one model: server-wide
        document["request_timeout_s"] = deployment.request_timeout
        if deployment.llm is not None:  # the server-wide default does not bound generations
            timeout = {"request_timeout_s": deployment.request_timeout}
            document["models"] = {v.model_name: timeout for v in deployment.versions}
    if tracing is not None:  # the gateway's collector; a replica's spans continue its traces
        document["tracing"] = tracing.model_dump()
    if access_log is not None:  # the gateway's access log: replicas write theirs too
        document["access_log"] = access_log
    ServerSettings.model_validate(document)  # a mismatch with the server fails here, not later
    return document


def write_launch(
    run_dir: Path,
    *,
    home: Path,
    deployment: DeploymentSpec,
    version: VersionSpec,
    pinned: str,
    drain_timeout_s: float,
    fingerprint: str,
    tracing: TracingSettings | None = None,
    engine: EngineLaunch | None = None,
    access_log: str | None = None,
) -> ReplicaLaunch:
    """Write the version's settings file under ``run_dir`` and describe how to start replicas.

    The file name carries ``fingerprint`` (what the replicas run), so replacing a version never
    rewrites the file that its old replicas restart from. With ``tracing``, replicas export
    their spans there too, named ``inferd-replica`` with the deployment and version. With
    ``engine``, replicas run that engine and no settings file is written. With ``access_log``
    (``gateway.access_log``), replicas write the access log in that format to their logs.
    """
    config_dir, log_dir = run_dir / "config", run_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    launch = ReplicaLaunch(
        deployment=deployment.name,
        version=version.name,
        model=version.model_name,
        reference=version.model,
        pinned=pinned,
        config=None,
        log_dir=log_dir,
        home=home,
        trust_code=version.trust_code,
        engine=engine,
    )
    if engine is not None:
        return launch
    config_dir.mkdir(parents=True, exist_ok=True)
    config = config_dir / f"{deployment.name}-{version.name}-{fingerprint[:12]}.yaml"
    tmp = config.with_suffix(".tmp")
    if tracing is not None:
        tracing = tracing.model_copy(
            update={
                "service_name": "inferd-replica",
                "attributes": {
                    "inferd.deployment": deployment.name,
                    "inferd.version": version.name,
                },
            }
        )
    document = server_settings(deployment, drain_timeout_s, tracing, access_log)
    tmp.write_text(yaml.safe_dump(document), encoding="utf-8")
    tmp.replace(config)
    return dataclasses.replace(launch, config=config)


def free_port(host: str) -> int:
    """A port free on ``host`` right now (the kernel's pick for port 0).

    Another process could take it before the replica binds; the replica then exits and is
    restarted on a fresh port, so the race costs a restart, never a wrong route.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
