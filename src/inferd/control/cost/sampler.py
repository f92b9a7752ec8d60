"""The cost sampler of ``inferd up``: what each version held, used and did, every few seconds.

Every :data:`DEFAULT_INTERVAL_S` it reads, for every replica process the supervisor runs
(starting, ready or draining: each holds its capacity), the CPU time and resident memory of its
process tree from ``/proc`` (:mod:`.proc`); the requests the gateway answered per version since
the last tick (its counters); the batches each ready replica's model ran and the tokens a
language model read and generated (its ``/metrics``);
and the GPUs, where NVML is. Once a second it also samples the requests in flight per version.
Each tick becomes one :class:`~inferd.cost.accounting.VersionInterval` per version, kept for
:data:`KEEP_S`; reports, the status document, recommendations and the ``inferd_cost_*`` series
are computed from them by :mod:`inferd.cost`'s pure functions, each interval at the prices the
spec had when it was measured (which it carries).

A replica holds its deployment's ``resources`` (one core and its peak RSS where none is set:
:func:`inferd.cost.capacity.held`) for the seconds its process ran in the interval: those its
process started with, so one an apply replaces holds the old ones while it drains. A
deployment whose autoscaler may scale it to zero (``min_replicas: 0``) and whose main version
has no replica process is *at zero* for the interval: that time is what scale-to-zero saved.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from inferd.control.cost.gpus import GpuReading
from inferd.control.cost.proc import ProcessUse, read_tree
from inferd.control.cost.scrapes import BatchCounts, TokenCounts
from inferd.control.gateway.readings import GatewayReading
from inferd.control.replicas.topology import Replica
from inferd.control.tasks import cancel_and_wait
from inferd.cost.accounting import (
    Account,
    Buckets,
    CapacitySeconds,
    ReplicaSlice,
    Tokens,
    VersionInterval,
    account,
    spanned,
)
from inferd.cost.capacity import GIB, Capacity, held
from inferd.cost.prices import Node, PriceBook
from inferd.spec.edits import main_version
from inferd.spec.model import DeploymentSpec, ResourcesSpec, Spec

log = logging.getLogger(__name__)

#: Seconds between two readings of every replica, and between two samples of requests in flight.
DEFAULT_INTERVAL_S = 5.0
CONCURRENCY_EVERY_S = 1.0
#: How long intervals are kept: the longest window a report may ask for.
KEEP_S = 2 * 3600.0
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Sources:
    """Where the sampler reads from (``inferd up`` wires its supervisor and gateway in)."""

    #: The spec running now (None before the first apply).
    spec: Callable[[], Spec | None]
    #: Every replica process the supervisor runs, routed or not, and those it retired lately
    #: (stopped, with the time their process exited).
    replicas: Callable[[], list[Replica]]
    #: The gateway's counters.
    traffic: Callable[[], GatewayReading]
    #: Requests in flight per replica id.
    in_flight: Callable[[], Mapping[str, int]]
    #: The ready replicas' ``/metrics`` texts (those that answered).
    scrape: Callable[[], Awaitable[list[tuple[Replica, str]]]]
    #: The GPUs now, or None without NVML or GPUs.
    gpus: Callable[[], GpuReading | None]
    #: A replica's process tree now (None: gone).
    process: Callable[[int], ProcessUse | None] = read_tree


@dataclass(slots=True)
class Totals:
    """What a version added up to since ``inferd up`` started (the ``inferd_cost_*`` counters);
    money in the currency of the spec's prices now (a change of currency starts again)."""

    replica_seconds: float = 0.0
    held: CapacitySeconds = field(default_factory=CapacitySeconds)
    used: CapacitySeconds = field(default_factory=CapacitySeconds)
    predictions: int = 0
    money_held: float = 0.0
    money_idle: float = 0.0

    def add(self, a: Account) -> None:
        self.replica_seconds += a.replica_seconds
        self.held += a.held
        self.used += a.used
        self.predictions += a.predictions
        if a.money is not None:
            self.money_held += a.money.held
            self.money_idle += a.money.idle


class CostSampler:
    """Samples on the event loop (file reads off it); readers call :meth:`intervals`."""

    def __init__(
        self,
        sources: Sources,
        machine: Node,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        keep_s: float = KEEP_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sources = sources
        #: What ``price_per_node_hour`` buys when the spec names no node.
        self.machine = machine
        self.interval_s = interval_s
        self.keep_s = keep_s
        self._clock = clock
        self._intervals: deque[VersionInterval] = deque()
        self._last: tuple[float, GatewayReading] | None = None
        self._cpu: dict[tuple[str, int], float] = {}
        self._peaks: dict[Key, float] = {}
        #: Each replica process's peak RSS so far (GiB): an exiting process reports none.
        self._process_peaks: dict[tuple[str, int], float] = {}
        self._resources: dict[Key, ResourcesSpec] = {}
        #: The resources each replica process started with: an apply that changes them
        #: replaces the replicas, and the old ones hold theirs until they exit.
        self._holds: dict[tuple[str, int], ResourcesSpec] = {}
        #: The processes running at the last tick: one gone since is charged up to its exit.
        self._ran: dict[tuple[str, int], Replica] = {}
        self._concurrency: defaultdict[Key, list[float]] = defaultdict(list)
        self._batches = BatchCounts()
        self._tokens = TokenCounts()
        self._task: asyncio.Task[None] | None = None
        #: Since start, per version; and the currency their money is in.
        self.totals: dict[Key, Totals] = {}
        #: Scale-to-zero savings since start per deployment, kept while it has intervals (its
        #: counter never falls when a version it had goes).
        self.savings: dict[str, float] = {}
        self.currency: str | None = None
        #: The GPUs at the last tick (None: no NVML or no GPU).
        self.gpu: GpuReading | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="cost sampler")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    def book(self) -> PriceBook | None:
        """The spec's prices now; None without a ``cost:`` section."""
        spec = self.sources.spec()
        if spec is None or spec.cost is None:
            return None
        return PriceBook.of(spec.cost, self.machine)

    def intervals(self, window_s: float | None = None) -> list[VersionInterval]:
        """The intervals that ended in the last ``window_s`` seconds (all kept: None)."""
        if window_s is None:
            return list(self._intervals)
        since = self._clock() - window_s
        return [i for i in self._intervals if i.end > since]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            if loop.time() >= next_tick:
                next_tick += self.interval_s
                try:
                    await self.tick()
                except Exception:  # a bug in one tick must not end cost accounting
                    log.exception("cost sampling failed")
            await asyncio.sleep(min(CONCURRENCY_EVERY_S, max(next_tick - loop.time(), 0.0)))
            self.sample_concurrency()

    def sample_concurrency(self) -> None:
        """Add the requests in flight per version to the current interval."""
        outstanding = self.sources.in_flight()
        by_version: defaultdict[Key, float] = defaultdict(float)
        for r in self.sources.replicas():
            if r.state != "stopped":  # not one retired lately
                by_version[(r.deployment, r.version)] += outstanding.get(r.id, 0)
        for key, value in by_version.items():
            self._concurrency[key].append(value)

    async def tick(self) -> list[VersionInterval]:
        """Read everything once; from the second call on, record and return one interval per
        version since the previous call."""
        replicas = self.sources.replicas()
        running = [r for r in replicas if r.pid is not None and not _has_exited(r)]
        uses, gpu = await asyncio.to_thread(self._read, running)
        scraped = await self.sources.scrape()
        traffic = self.sources.traffic()
        # The interval ends when its traffic was read, not when the tick began: on a busy
        # machine the reads above take seconds, and requests answered meanwhile would count in an
        # interval stamped before they arrived, outside a window that starts with them.
        now = self._clock()
        batches = self._batches.added(scraped, running)
        tokens = self._tokens.added(scraped, running)
        last, self._last = self._last, (now, traffic)
        self.gpu = gpu
        intervals = []
        exited = self._exited(replicas, running, last[0], now) if last is not None else []
        keys = self._keys([*running, *(r for r, _ in exited)])
        if last is None:
            self._concurrency.clear()
        else:
            began, before = last
            tick = _Tick(
                now, now - began, traffic.since(before), uses, gpu, batches, tokens, running,
                exited, self.book(),
            )  # fmt: skip
            intervals = [self._interval(tick, key, d) for key, d in keys]
            self._keep(intervals, now, tick.prices)
        self._ran = {_process(r): r for r in running}
        self._holds = {
            _process(r): self._holds.get(_process(r), self._resources_of(r)) for r in running
        }
        self._cpu = {_process(r): uses[r.id].cpu_seconds for r in running if r.id in uses}
        self._process_peaks = {
            _process(r): self._peak_of(r, uses[r.id]) for r in running if r.id in uses
        }
        return intervals

    def _exited(
        self, replicas: list[Replica], running: list[Replica], began: float, now: float
    ) -> list[tuple[Replica, float]]:
        """The processes of the last tick that exited since, each (as it was then) with its
        seconds from the last tick (or its start) to its exit, which the supervisor's replica
        says; one whose exit time is not known is charged no further."""
        now_running = {_process(r) for r in running}
        exits = {r.id: r.exited_at for r in replicas if r.exited_at is not None}
        found = []
        for process, r in self._ran.items():
            exited_at = exits.get(r.id)
            if process in now_running or exited_at is None or exited_at <= began:
                continue
            start = max(began, r.started_at if r.started_at is not None else began)
            found.append((r, max(min(exited_at, now) - start, 0.0)))
        return found

    def _peak_of(self, replica: Replica, use: ProcessUse) -> float:
        """The process's peak RSS in GiB: what it reports (``VmHWM``), or the last peak read
        while it exits (a zombie's /proc has no memory lines, though it held that memory)."""
        return max(use.peak_rss_bytes / GIB, self._process_peaks.get(_process(replica), 0.0))

    def _read(self, running: list[Replica]) -> tuple[dict[str, ProcessUse], GpuReading | None]:
        uses = {}
        for r in running:
            assert r.pid is not None
            use = self.sources.process(r.pid)
            if use is not None:
                uses[r.id] = use
        return uses, self.sources.gpus()

    def _keys(self, running: list[Replica]) -> list[tuple[Key, DeploymentSpec | None]]:
        """Every version of the spec, and any version whose replicas still run (retiring)."""
        spec = self.sources.spec()
        keys: dict[Key, DeploymentSpec | None] = {}
        for d in spec.deployments if spec is not None else ():
            for v in d.versions:
                keys[(d.name, v.name)] = d
                self._resources[(d.name, v.name)] = d.resources
        for r in running:
            keys.setdefault((r.deployment, r.version), None)
        self._resources = {k: v for k, v in self._resources.items() if k in keys}
        return list(keys.items())

    def _interval(self, tick: _Tick, key: Key, d: DeploymentSpec | None) -> VersionInterval:
        resources = self._resources.get(key, ResourcesSpec())
        replicas = [r for r in tick.running if (r.deployment, r.version) == key]
        gpu_replicas = sum(1 for r in tick.running if self._resources_of(r).gpu > 0)
        slices = []  # the exited first: the last slice is of the latest replica
        spans = []  # when each slice's process ran: together, the time not at zero
        for r, seconds in tick.exited:  # held until it exited; its use then is not known
            peak = self._process_peaks.get(_process(r), 0.0)
            if (r.deployment, r.version) == key and seconds > 0:
                capacity = held(self._holds.get(_process(r), resources), peak)
                slices.append(ReplicaSlice(seconds, capacity, Capacity(0.0, 0.0), peak))
                start = max(tick.now - tick.seconds, r.started_at or 0.0)
                spans.append((start, start + seconds))
        for r in replicas:
            use = tick.uses.get(r.id)
            started = r.started_at if r.started_at is not None else tick.now - tick.seconds
            seconds = min(tick.seconds, max(tick.now - started, 0.0))
            if seconds <= 0:
                continue
            spans.append((tick.now - seconds, tick.now))
            if use is None:  # unreadable (no /proc off Linux, or it just exited): held, no use
                peak = self._process_peaks.get(_process(r), 0.0)
                capacity = held(self._holds.get(_process(r), resources), peak)
                slices.append(ReplicaSlice(seconds, capacity, Capacity(), peak))
                continue
            before = self._cpu.get(_process(r))
            cpu = use.cpu_seconds - before if before is not None else use.cpu_seconds
            peak = self._peak_of(r, use)
            capacity = held(self._holds.get(_process(r), resources), peak)
            busy = tick.gpu.busy if tick.gpu is not None else 0.0
            gpu_memory = (
                tick.gpu.memory_used_gib / gpu_replicas
                if tick.gpu is not None and capacity.gpus > 0 and gpu_replicas
                else 0.0
            )
            used = Capacity(max(cpu, 0.0) / seconds, use.rss_bytes / GIB, capacity.gpus * busy)
            slices.append(ReplicaSlice(seconds, capacity, used, peak, gpu_memory))
            self._peaks[key] = max(self._peaks.get(key, 0.0), peak)
        primary = tick.traffic.version(*key)
        mirrored = tick.traffic.shadow(*key).outcomes
        rows, buckets = tick.batches.get(key, (0, ()))
        # At zero while no replica ran: a deployment woken in the interval saved the seconds
        # before, one whose replica was replaced (or restarted) only the gap between the two.
        ran = spanned(spans) if spans else (tick.seconds if replicas else 0.0)
        zero_s = tick.seconds - ran if d is not None and _scales_to_zero(d, key[1]) else 0.0
        at_zero = zero_s > 0
        return VersionInterval(
            deployment=key[0],
            version=key[1],
            end=tick.now,
            seconds=tick.seconds,
            replicas=tuple(slices),
            predictions=primary.count(("success",)),
            requests=primary.requests + sum(n for o, n in mirrored.items() if o != "dropped"),
            rows=rows,
            tokens=tick.tokens.get(key),
            gpu_product=tick.gpu.product if tick.gpu is not None and resources.gpu else None,
            zero_seconds=zero_s if at_zero else 0.0,
            zero=held(resources, self._peaks.get(key, 0.0)) if at_zero else None,
            concurrency=tuple(self._concurrency.pop(key, ())),
            batches=buckets,
            shadow=d is not None and d.traffic.shadow == key[1],
            prices=tick.prices,
        )

    def _resources_of(self, replica: Replica) -> ResourcesSpec:
        return self._resources.get((replica.deployment, replica.version), ResourcesSpec())

    def _keep(self, intervals: list[VersionInterval], now: float, book: PriceBook | None) -> None:
        self._intervals.extend(intervals)
        while self._intervals and self._intervals[0].end <= now - self.keep_s:
            self._intervals.popleft()
        currency = book.currency if book is not None else self.currency
        if currency != self.currency:  # money counted in another currency starts again
            for totals in self.totals.values():
                totals.money_held = totals.money_idle = 0.0
            self.savings.clear()
            self.currency = currency
        for a in account(intervals, book):
            self.totals.setdefault((a.deployment, a.version), Totals()).add(a)
            saved = a.money.saved_scale_to_zero if a.money is not None else 0.0
            self.savings[a.deployment] = self.savings.get(a.deployment, 0.0) + saved
        kept = {i.key for i in self._intervals}
        for key in [k for k in self.totals if k not in kept]:
            del self.totals[key]
        self.savings = {d: s for d, s in self.savings.items() if d in {k[0] for k in kept}}


@dataclass(frozen=True, slots=True)
class _Tick:
    """One reading of everything, and how long since the previous."""

    now: float
    seconds: float
    traffic: GatewayReading
    uses: Mapping[str, ProcessUse]
    gpu: GpuReading | None
    batches: Mapping[Key, tuple[int, Buckets]]
    #: Tokens of the language-model versions (others are absent).
    tokens: Mapping[Key, Tokens]
    running: list[Replica]
    #: The processes that exited since the previous tick, with their seconds in the interval.
    exited: list[tuple[Replica, float]]
    #: The spec's prices at the tick: those its intervals are priced at.
    prices: PriceBook | None


def _has_exited(replica: Replica) -> bool:
    """Whether the replica's process has exited, though the supervisor has not let go of its
    pid yet (it reads the process's last output first)."""
    ended, began = replica.exited_at, replica.started_at
    return ended is not None and began is not None and ended >= began


def _process(replica: Replica) -> tuple[str, int]:
    """A replica's current process: a restart is another process, with CPU time of its own."""
    return (replica.id, replica.pid or 0)


def _scales_to_zero(d: DeploymentSpec, version: str) -> bool:
    """Whether ``version`` is what the autoscaler takes to zero replicas."""
    scaling = d.autoscaling
    return scaling is not None and scaling.min_replicas == 0 and main_version(d).name == version
