"""The composition root of ``inferd up``: supervisor, reconciler, gateway and admin API in one
event loop.

Start order: the gateway binds first, REST then gRPC (a taken port fails before any replica
starts), then the admin API, then the first apply starts every replica and publishes the
routing. Stop order, on SIGTERM or SIGINT: the gateway's readiness turns false at once and it
serves as usual for the drain delay (``--drain-delay``, 0 by default; a second signal cuts it
short), the admin API closes, the gateway finishes the requests in flight (on replicas still
running) while each new REST connection is answered 503 + ``Retry-After`` (gRPC refuses new
calls, UNAVAILABLE), then every replica drains and stops — so no accepted request loses its
replica — and last the gateway's REST port closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson
from pydantic import BaseModel, ConfigDict

from inferd.addresses import url_host
from inferd.config import LimitSettings, StoreSettings
from inferd.control.admin.api import AdminApi
from inferd.control.admin.documents import UpStatus
from inferd.control.autoscale.coldstart import ColdStart
from inferd.control.autoscale.loop import AutoscaleLoop
from inferd.control.autoscale.signals import GatewaySignals
from inferd.control.cost import cost_sampler
from inferd.control.cost.documents import cost_status
from inferd.control.demo_traffic import DemoTraffic
from inferd.control.gateway import Gateway, GrpcGateway
from inferd.control.gateway.access import gateway_front_door, secure_grpc
from inferd.control.gateway.history import HistoryOptions
from inferd.control.gateway.tracing import tracing_settings
from inferd.control.reconciler import Reconciler
from inferd.control.replicas.leftovers import stop_leftovers
from inferd.control.replicas.supervisor import Supervisor
from inferd.control.replicas.topology import Topology
from inferd.control.rollout.controller import RolloutController
from inferd.control.rollout.history import RolloutHistory
from inferd.control.rollout.recovery import end_interrupted
from inferd.control.rollout.watch import AliasWatcher
from inferd.control.up_state import UpState, clear_state, read_state, up_lock, write_state
from inferd.errors import AlreadyExists, InferdError, Unavailable
from inferd.observe.audit import AuditLog
from inferd.observe.tracing_setup import start_tracing
from inferd.protocols.access.frontdoor import FrontDoor
from inferd.runtimes.warmup import example_request
from inferd.settings_file import load_settings
from inferd.spec.edits import main_version
from inferd.spec.model import DeploymentSpec, Spec
from inferd.store import ModelStore
from inferd.store.remote import RegistrySettings, registries_of

log = logging.getLogger(__name__)

#: Replicas get at least this long to drain after the gateway has used up its share.
MIN_REPLICA_GRACE_S = 5.0
#: Where the replicas' settings files and logs go, under $INFERD_HOME.
RUN_DIR = "up"
#: Where deployments' payload logs with a file sink go, under $INFERD_HOME.
PAYLOAD_DIR = "payloads"
#: The banner's request to a language model: a short chat completion.
TRY_CHAT_PATH = "/v1/chat/completions"
TRY_MAX_TOKENS = 16


@dataclass(frozen=True, slots=True)
class UpOptions:
    spec: Spec
    #: The spec file as the user named it (shown by ``inferd ps``).
    spec_name: str
    store: StoreSettings
    #: Overrides ``gateway.port`` of the spec when set.
    port: int | None = None
    demo_traffic: bool = False
    #: Overrides ``gateway.grpc_port`` (and its REST port + 1 default) when set.
    grpc_port: int | None = None
    #: After the signal, seconds of serving as usual with readiness already false.
    drain_delay_s: float = 0.0


class _GatewaySettings(BaseModel):
    """What the gateway takes of ``inferd serve``'s settings, from the same ``INFERD_*``
    variables (``INFERD_LIMITS__MAX_BODY_BYTES``…)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limits: LimitSettings = LimitSettings()


def gateway_limits(environ: Mapping[str, str] | None = None) -> LimitSettings:
    """The gateway's HTTP limits (body size, headers, timeouts…): ``INFERD_LIMITS__*`` as
    ``inferd serve`` reads them, which the replicas also get (:mod:`.replicas.launch`), so a
    limit raised for a deployment is not refused at the gateway. A bad value names its variable."""
    return load_settings(_GatewaySettings, environ=environ).limits


async def run_up(options: UpOptions, say: Callable[[str], None]) -> int:
    """Run until SIGTERM/SIGINT; return the exit status. ``say`` prints for the operator."""
    home = options.store.root
    running = read_state(home)
    if running is not None:
        raise AlreadyExists(
            f"inferd up is already running for this store (pid {running[0].pid}); "
            "use `inferd apply FILE` to change it"
        )
    with up_lock(home):  # one starting, whose up.json is not written yet, is refused too
        return await _run_up(options, say)


async def _run_up(options: UpOptions, say: Callable[[str], None]) -> int:
    limits = gateway_limits()
    home = options.store.root
    spec = options.spec
    gw = spec.gateway
    door = gateway_front_door(
        gw.auth, gw.tls, home=home, spec_dir=Path(options.spec_name).parent,
        demo_traffic=options.demo_traffic,
    )  # fmt: skip
    store = up_store(options.store, spec)
    history = RolloutHistory(home)
    for line in await end_interrupted(history, store):  # before the alias is read
        log.warning("%s", line)
    left = await stop_leftovers(home, gw.drain_timeout)  # a killed up's: before ours start
    if left is not None:
        log.warning("%s", left)
    supervisor = Supervisor()
    traces = tracing_settings(gw.tracing, os.environ)
    tracing = None
    if traces is not None:  # only then is OpenTelemetry imported
        tracing = start_tracing(traces.model_copy(update={"service_name": "inferd-gateway"}))
    reconciler = Reconciler(supervisor, store, home / RUN_DIR, tracing=traces)
    rest_port = gw.port if options.port is None else options.port
    grpc_port = gw.grpc_port_for(rest_port) if options.grpc_port is None else options.grpc_port
    gateway = Gateway(
        gw.host,
        rest_port,
        limits=limits,
        shadow_timeout_s=gw.shadow_timeout,
        request_timeout_s=gw.request_timeout,
        history=HistoryOptions.from_environ(os.environ),
        payload_dir=home / PAYLOAD_DIR,
        tracing=tracing,
        access_log=gw.access_log,
    )
    gateway.front_door = door
    try:
        await gateway.start()
    except Unavailable as exc:  # the port is taken: say how to pick another
        raise Unavailable(f"gateway: {exc.message} (choose another with --port)") from None
    front = GrpcGateway(gateway, gw.host, grpc_port)
    secure_grpc(front, door)
    try:
        await front.start()
    except Unavailable as exc:
        await gateway.stop(0)
        raise Unavailable(
            f"gateway: {exc.message} (choose another with gateway.grpc_port or --grpc-port)"
        ) from None
    supervisor.subscribe(gateway.update)
    supervisor.subscribe(front.update)
    gateway.metrics.registry.register(supervisor.series)
    # The dashboard's lineage panel and tag-move marks.
    gateway.charts.model_history = store.history
    token = secrets.token_urlsafe(32)
    rollouts = RolloutController(
        reconciler,
        store,
        gateway.metrics.reading,
        history,
        replicas=gateway.replica_readings,
        registry=gateway.metrics.registry,
    )
    watcher = AliasWatcher(rollouts, reconciler, store)
    autoscale = _autoscaling(reconciler, supervisor, gateway)
    # A canary whose candidate cannot start fails at once, as an alias move to it does.
    autoscale.start_failure_listeners.append(rollouts.start_failed)
    costs = cost_sampler(reconciler, supervisor, gateway)

    def status() -> UpStatus:
        return {
            **gateway.status(),
            "rollouts": rollouts.status(),
            "autoscaling": autoscale.status(),
            "cost": cost_status(costs),
        }

    gateway.status_document = status
    admin = AdminApi(
        reconciler,
        supervisor,
        token,
        extra_status=status,
        rollouts=rollouts,
        costs=costs,
        audit=AuditLog.in_home(home, "up"),
        applied=autoscale.applied,
    )
    await admin.start()
    url = f"{door.scheme}://{url_host(gw.host)}:{gateway.port}"
    grpc_address = f"{url_host(gw.host)}:{front.port}"
    write_state(
        home,
        UpState(
            os.getpid(),
            admin.host,
            admin.port,
            url,
            str(Path(options.spec_name).resolve()),
            time.time(),
            grpc_address,
        ),
        token,
    )
    demo: DemoTraffic | None = None
    try:
        stop = _stop_event()
        costs.start()  # before the first apply: replicas hold capacity while they start
        if await _first_apply(reconciler, spec, stop):
            autoscale.start()
            watcher.start()
            for line in _banner(url, grpc_address, spec, store, door):
                say(line)
            if options.demo_traffic:
                demo = DemoTraffic(url, store, lambda: reconciler.spec)
                demo.start()
                say(f"demo traffic: about {demo.rate_per_s:g} requests/s to {url}")
            await stop.wait()
            await _serve_the_delay(gateway, stop, options.drain_delay_s)
        log.info("stopping: draining the gateway, then the replicas")
    finally:
        await watcher.stop()
        await rollouts.stop()
        await autoscale.stop()
        await costs.stop()
        # The drain timeout an apply last set: of the gateway's settings, the only one read live.
        applied = reconciler.spec
        drain_s = (applied.gateway if applied is not None else gw).drain_timeout
        await _shutdown(admin, (gateway, front), reconciler, demo, drain_s)
        clear_state(home, os.getpid())
        if tracing is not None:
            await asyncio.to_thread(tracing.shutdown)  # export what is buffered
    return 0


async def _first_apply(reconciler: Reconciler, spec: Spec, stop: asyncio.Event) -> bool:
    """Apply the spec; False when a signal came first (stop without waiting for replicas)."""
    applying = asyncio.ensure_future(reconciler.apply(spec))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([applying, stopping], return_when=asyncio.FIRST_COMPLETED)
    if applying.done():
        stopping.cancel()
        applying.result()
        return True
    applying.cancel()
    with contextlib.suppress(asyncio.CancelledError, InferdError):
        await applying
    return False


async def _shutdown(
    admin: AdminApi,
    gateways: tuple[Gateway, GrpcGateway],
    reconciler: Reconciler,
    demo: DemoTraffic | None,
    drain_s: float,
) -> None:
    started = time.monotonic()
    if demo is not None:
        await demo.stop()
    await admin.stop(1.0)
    rest, grpc = gateways
    await asyncio.gather(rest.drain(drain_s), grpc.stop(drain_s))  # REST and gRPC together
    left = max(MIN_REPLICA_GRACE_S, drain_s - (time.monotonic() - started))
    await reconciler.shutdown(left)
    await rest.close()  # until now, what connects is answered 503 rather than refused


async def _serve_the_delay(gateway: Gateway, stop: asyncio.Event, delay_s: float) -> None:
    """After the signal: readiness false at once, then everything served as usual for
    ``delay_s`` while load balancers notice (a second signal cuts it short)."""
    gateway.begin_drain()
    if delay_s <= 0:
        return
    log.info("signal received: not ready; serving for %.1f s more (--drain-delay)", delay_s)
    stop.clear()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay_s)


def _autoscaling(reconciler: Reconciler, supervisor: Supervisor, gateway: Gateway) -> AutoscaleLoop:
    """The autoscaling loop, and the gateway's hold on requests while a replica cold-starts."""
    registry = gateway.metrics.registry

    # The loop is built below (it reads the held count): these reach it once it exists.
    def timeout(deployment: str) -> float | None:
        return loop.cold_start_timeout(deployment)

    def wake(deployment: str) -> None:
        loop.wake(deployment)

    cold = ColdStart(timeout, wake, registry)

    def topology() -> Topology:
        return supervisor.topology

    signals = GatewaySignals(gateway, topology, held=cold.held, held_for=cold.held_for)
    loop = AutoscaleLoop(reconciler, signals, topology, registry)
    supervisor.subscribe(cold.update)
    gateway.cold_start = cold
    return loop


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def up_store(settings: StoreSettings, spec: Spec) -> ModelStore:
    """The store of ``inferd up``: it fetches only from registries on the allowlist
    (``INFERD_ALLOWED_REGISTRIES``, ``registries.allow``) or named by ``spec``, the spec up
    starts with. An apply cannot add any: the reconciler refuses a changed ``registries:``."""
    named = registries_of(v.model for d in spec.deployments for v in d.versions)
    registries = RegistrySettings.from_environ().server_side([*spec.registries.allow, *named])
    return ModelStore.from_settings(settings, registries)


def _banner(
    url: str, grpc_address: str, spec: Spec, store: ModelStore, door: FrontDoor
) -> list[str]:
    lines = [
        f"gateway    {url}  (OIP v2 REST; /metrics, /v2/health/ready)",
        f"gRPC       {grpc_address}  (OIP v2 GRPCInferenceService)",
        f"dashboard  {url}/",
        f"access     {door.describe()}",
    ]
    for d in spec.deployments:
        split = ", ".join(f"{v} {w}%" for v, w in d.weights().items() if w)
        shadow = f", shadow {d.traffic.shadow}" if d.traffic.shadow else ""
        lines.append(f"deployment {d.name}: {split}{shadow}")
    first = spec.deployments[0]
    with contextlib.suppress(InferdError):
        path, body = _try_request(first, store)
        key = ' -H "Authorization: Bearer $INFERD_KEY"' if door.requires_keys else ""
        lines.append(
            f"try: curl -s -X POST {url}{path}{key} "
            f"-H 'Content-Type: application/json' -d '{orjson.dumps(body).decode()}'"
        )
    lines.append("status: inferd ps    change: inferd apply FILE    stop: Ctrl-C (drains)")
    return lines


def _try_request(deployment: DeploymentSpec, store: ModelStore) -> tuple[str, dict[str, object]]:
    """The path and JSON body of a request ``deployment`` answers, for the banner's curl: a
    chat completion (OpenAI's API) when its main version is a language model, which OIP's
    ``infer`` would refuse without inputs; otherwise an OIP ``infer`` of zeros shaped by the
    model's signature. Raises NotFound when the main version's model is not in the store."""
    card = store.resolve(main_version(deployment).model).card
    if card.llm is not None:
        return TRY_CHAT_PATH, {
            "model": deployment.name,
            "messages": [{"role": "user", "content": "Hello"}],
            "max_tokens": TRY_MAX_TOKENS,
        }
    return f"/v2/models/{deployment.name}/infer", dict(example_request(card.signature))
