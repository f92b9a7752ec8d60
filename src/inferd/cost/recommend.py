"""Right-sizing: what each version should request and how many replicas it needs, with the
arithmetic, from what a window measured (:class:`~inferd.cost.usage.Usage`).

The rules, in order (constants below; docs/cost.md#right-sizing):

1. **Replicas.** A replica keeps about one core busy (:data:`REPLICA_CORES`: its event loop;
   more replicas are how a version uses more cores), or ``runtime.threads`` cores where its
   model runs on more threads, so it serves up to ``cores / CPU seconds per request`` requests
   a second — its measured throughput. The version needs
   ``ceil(p95 requests/s * headroom / throughput)`` replicas, and at least
   ``ceil(p95 in flight / max_batch_size)`` (one replica runs at most a batch at once; a
   language model's ``llm.max_num_seqs`` sequences), and at least one. A version the
   autoscaler scales gets bounds instead: ``min_replicas`` from the median load (0 stays 0: it
   scales to zero on purpose), ``max_replicas`` from the peak load times :data:`BURST` (and
   never below any version's replicas, as the spec requires).
2. **CPU request.** The p95 of the cores its replicas used together, shared by the replicas it
   will have, plus :data:`CPU_HEADROOM`, rounded up to 50m.
3. **Memory request (and limit).** The largest peak RSS of any replica plus
   :data:`MEMORY_HEADROOM`, rounded up to 32 MiB. Resources and batching are per deployment:
   when its versions disagree, the largest wins.
4. **Batching.** When at least :data:`FULL_BATCH_SHARE` of the batches filled the top bucket
   below ``max_batch_size``, batches are full: double it (not for a language model, which
   batches continuously).
5. **GPUs.** :func:`gpu_fit` picks the cheapest option (a MIG profile, a smaller GPU) whose
   compute share and memory cover the p95 busy share and the peak GPU memory with headroom; the
   options are data the caller passes in (``inferd gpu plan``'s MIG tables).

A version without requests in the window is not sized by load (nothing measured it); its
memory still is. Nothing here reads a clock or a file: every input is an argument.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from inferd.cost.accounting import Buckets
from inferd.cost.usage import Usage
from inferd.spec.edits import main_version
from inferd.spec.model import DeploymentSpec, Spec
from inferd.spec.types import parse_quantity

#: Cores one replica keeps busy at most (a model server's event loop is one thread).
REPLICA_CORES = 1.0
#: Room above what was measured: 30% for CPU and load, 25% for memory.
CPU_HEADROOM = 1.3
MEMORY_HEADROOM = 1.25
#: ``max_replicas`` covers this many times the peak load of the window.
BURST = 2.0
#: Batches are full when this share of them fills the top bucket below ``max_batch_size``.
FULL_BATCH_SHARE = 0.1
MAX_BATCH_SIZE = 65536
MAX_REPLICAS = 64
CPU_STEP_MILLI = 50
MEMORY_STEP_MIB = 32
MIN_MEMORY_MIB = 64

#: A proposal's value: a replica count or batch size, or a quantity as the spec writes it.
Value = int | str


@dataclass(frozen=True, slots=True)
class Proposal:
    """One setting to change, with the arithmetic behind it."""

    deployment: str
    #: The version it sets (``replicas``), or None for a setting of the whole deployment.
    version: str | None
    #: The setting's path under the version or deployment: ``replicas``, ``resources.cpu``…
    field: str
    current: Value | None
    proposed: Value
    arithmetic: str

    @property
    def changes(self) -> bool:
        """Whether ``proposed`` differs from ``current`` (quantities compared by value)."""
        if isinstance(self.proposed, str) and isinstance(self.current, str):
            return parse_quantity(self.proposed) != parse_quantity(self.current)
        return self.proposed != self.current

    @property
    def path(self) -> str:
        """Where it goes in the spec: ``fraud.v1.replicas``, ``fraud.resources.cpu``."""
        owner = self.deployment if self.version is None else f"{self.deployment}.{self.version}"
        return f"{owner}.{self.field}"


@dataclass(frozen=True, slots=True)
class Advice:
    """What one version's measurements suggest."""

    deployment: str
    version: str
    proposals: tuple[Proposal, ...]
    #: Findings that change nothing in the spec (no traffic, batching never engaged, GPUs).
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GpuOption:
    """A way to give a replica GPU: a whole GPU of a product, or a MIG profile's slice of one."""

    name: str
    #: Share of one GPU's compute it has (a MIG profile: its compute slices / the GPU's).
    fraction: float
    memory_gib: float
    #: Its price per hour; None when the price book does not price it.
    hourly: float | None


def recommend(spec: Spec, usages: Iterable[Usage]) -> list[Advice]:
    """Advice for every measured version the spec still has."""
    out = []
    listed = list(usages)
    for u in listed:
        d = spec.deployment(u.deployment)
        if d is not None and d.version(u.version) is not None:
            out.append(_advise(d, u))
    return [_memory_of_unmeasured(spec, listed, a) for a in _covering(out)]


def _memory_of_unmeasured(spec: Spec, usages: list[Usage], advice: Advice) -> Advice:
    """``advice`` without a ``resources.memory`` that lowers (or first sets) the deployment's
    memory while a version of it that ran no replica in the window runs a model no measured
    version runs: the renderer makes the request the pods' limit too, and that version's pods
    could need more."""
    d = spec.deployment(advice.deployment)
    assert d is not None
    peaks = {u.version: u.peak_gib for u in usages if u.deployment == d.name}
    measured = {v.model for v in d.versions if peaks.get(v.name) is not None}
    unknown = [
        v for v in d.versions if v.name in peaks and peaks[v.name] is None
        and v.model not in measured
    ]  # fmt: skip
    memory = next((p for p in advice.proposals if p.field == "resources.memory"), None)
    if not unknown or memory is None:
        return advice
    if memory.current is not None and _larger(memory.proposed, memory.current):
        return advice  # a raise: more than the measured versions had
    v = unknown[0]
    note = (
        f"resources.memory {memory.current or 'unset'} kept (not {memory.proposed}): "
        f"{d.name}/{v.name} ({v.model}) ran no replica in the window, so its model's memory is "
        "unknown, and the memory request is also the pods' limit"
    )
    proposals = tuple(p for p in advice.proposals if p is not memory)
    return dataclasses.replace(advice, proposals=proposals, notes=(*advice.notes, note))


def _covering(advice: list[Advice]) -> list[Advice]:
    """Each ``autoscaling.max_replicas`` raised to the ``replicas`` proposed for another version
    of its deployment (a canary's): a spec whose ``replicas`` exceed it is refused."""
    most: dict[str, Proposal] = {}
    for p in (p for a in advice for p in a.proposals if p.field == "replicas"):
        if not isinstance(p.proposed, int):
            continue
        before = most.get(p.deployment)
        if before is None or _larger(p.proposed, before.proposed):
            most[p.deployment] = p
    out = []
    for a in advice:
        proposals = tuple(_raised(p, most.get(p.deployment)) for p in a.proposals)
        out.append(dataclasses.replace(a, proposals=proposals))
    return out


def spec_changes(advice: Iterable[Advice]) -> list[Proposal]:
    """The proposals that change the spec, one per setting: a deployment-wide setting that its
    versions propose differently gets the largest value (each version's needs are covered)."""
    chosen: dict[tuple[str, str | None, str], Proposal] = {}
    for a in advice:
        for p in a.proposals:
            key = (p.deployment, p.version, p.field)
            before = chosen.get(key)
            if before is None or _larger(p.proposed, before.proposed):
                chosen[key] = p
    return [p for p in chosen.values() if p.changes]


def current_value(spec: Spec, p: Proposal) -> Value | None:
    """What ``spec`` sets where ``p`` goes; None where it sets nothing (or has no such
    deployment or version)."""
    d = spec.deployment(p.deployment)
    owner: object = d if p.version is None or d is None else d.version(p.version)
    for key in p.field.split("."):
        owner = getattr(owner, key, None)
    return owner if isinstance(owner, int | str) else None


def _raised(p: Proposal, widest: Proposal | None) -> Proposal:
    """``p``, a ``max_replicas`` at least ``widest``'s proposed replicas."""
    if p.field != "autoscaling.max_replicas" or widest is None:
        return p
    if not _larger(widest.proposed, p.proposed):
        return p
    return dataclasses.replace(
        p,
        proposed=widest.proposed,
        arithmetic=f"{p.arithmetic}; {widest.deployment}/{widest.version} is proposed "
        f"{widest.proposed} replicas → {widest.proposed}",
    )


def _larger(a: Value, b: Value) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return parse_quantity(a) > parse_quantity(b)
    return a > b if isinstance(a, int) and isinstance(b, int) else False


def _advise(d: DeploymentSpec, u: Usage) -> Advice:
    version = d.version(u.version)
    assert version is not None
    proposals: list[Proposal] = []
    notes: list[str] = []
    mbs = d.batching.max_batch_size
    at_once = _at_once(d)
    scaled = d.autoscaling is not None and main_version(d).name == version.name and not u.shadow
    replicas_after = u.replicas
    if u.cpu_seconds_per_request is None or u.cpu_seconds_per_request <= 0:
        notes.append("no requests in the window: replicas and CPU are not sized by load")
    else:
        cores, busy = _replica_cores(d)
        throughput = cores / u.cpu_seconds_per_request
        need, why = _needed(u.rps_p95, u.concurrency_p95, throughput, at_once, "p95")
        head = (
            f"a replica serves up to {busy} / {u.cpu_seconds_per_request * 1000:.3g} ms CPU per "
            f"request = {throughput:.4g} req/s"
        )
        if scaled:
            assert d.autoscaling is not None
            proposals += _bounds(d, u, throughput, head, at_once)
            replicas_after = max(u.replicas, 1.0)
        else:
            proposals.append(
                Proposal(d.name, version.name, "replicas", version.replicas, need, f"{head}; {why}")
            )
            replicas_after = need
        proposals.append(_cpu(d, u, replicas_after))
    memory = _memory(d, u)
    if memory is not None:
        proposals.append(memory)
    # A language model batches continuously (its spec refuses a batching section).
    batching = _batching(d, u.batches, mbs) if d.llm is None else None
    if isinstance(batching, Proposal):
        proposals.append(batching)
    elif batching is not None:
        notes.append(batching)
    if u.gpu_busy_p95 is not None:
        notes.append(
            f"its GPUs were busy {u.gpu_busy_p95:.0%} of the time at p95, with "
            f"{u.gpu_memory_gib or 0:.3g} GiB of GPU memory in use at most"
        )
    return Advice(d.name, version.name, tuple(proposals), tuple(notes))


def _replica_cores(d: DeploymentSpec) -> tuple[float, str]:
    """The cores one replica of ``d`` keeps busy at most, and how that reads: its model's
    ``runtime.threads`` intra-op threads, or :data:`REPLICA_CORES` (one thread, or as many as
    the runtime chooses: not known here, so the fewest)."""
    threads = d.runtime.threads
    if threads > REPLICA_CORES:
        return float(threads), f"{threads} cores (runtime.threads {threads})"
    return REPLICA_CORES, f"{REPLICA_CORES:g} core"


def _at_once(d: DeploymentSpec) -> tuple[int, str]:
    """The requests one replica of ``d`` runs at once, and the setting that says so: a batch of
    ``max_batch_size`` rows, or a language model's ``llm.max_num_seqs`` sequences."""
    if d.llm is not None:
        return d.llm.max_num_seqs, "llm.max_num_seqs"
    return d.batching.max_batch_size, "max_batch_size"


def _needed(
    rps: float, concurrency: float, throughput: float, at_once: tuple[int, str], label: str
) -> tuple[int, str]:
    """Replicas for a load of ``rps`` with ``concurrency`` in flight, and the arithmetic."""
    most, setting = at_once
    by_rate = math.ceil(rps * CPU_HEADROOM / throughput)
    by_flight = math.ceil(concurrency / most)
    need = min(max(1, by_rate, by_flight), MAX_REPLICAS)
    return need, (
        f"{label} load {rps:.4g} req/s * {CPU_HEADROOM:g} / {throughput:.4g} → {by_rate}; "
        f"{label} in flight {concurrency:.3g} / {setting} {most} → {by_flight}; "
        f"at least 1 → {need}"
    )


def _bounds(
    d: DeploymentSpec, u: Usage, throughput: float, head: str, at_once: tuple[int, str]
) -> list[Proposal]:
    """``min_replicas`` and ``max_replicas`` for a version the autoscaler scales."""
    scaling = d.autoscaling
    assert scaling is not None
    if scaling.min_replicas == 0:
        low, low_why = 0, "min_replicas 0 kept: the deployment scales to zero on purpose"
    else:
        low, low_why = _needed(u.rps_p50, u.concurrency_p50, throughput, at_once, "median")
    in_flight = max(u.concurrency_max, u.concurrency_p95)  # the peak, as for the rate
    peak, peak_why = _needed(
        u.rps_max * BURST, in_flight * BURST, throughput, at_once, f"{BURST:g} * peak"
    )
    others = max(v.replicas for v in d.versions)
    high = min(max(low, peak, others), MAX_REPLICAS)
    return [
        Proposal(d.name, None, "autoscaling.min_replicas", scaling.min_replicas, low,
                 f"{head}; {low_why}"),
        Proposal(d.name, None, "autoscaling.max_replicas", scaling.max_replicas, high,
                 f"{head}; {peak_why}; no version has more replicas than {others} → {high}"),
    ]  # fmt: skip


def _cpu(d: DeploymentSpec, u: Usage, replicas: float) -> Proposal:
    cores = u.cores_p95 / max(replicas, 1.0) * CPU_HEADROOM
    milli = max(CPU_STEP_MILLI, math.ceil(cores * 1000 / CPU_STEP_MILLI) * CPU_STEP_MILLI)
    return Proposal(
        d.name, None, "resources.cpu", d.resources.cpu, f"{milli}m",
        f"p95 {u.cores_p95:.3g} cores in use over its replicas / {replicas:.3g} replicas * "
        f"{CPU_HEADROOM:g} = {cores:.3g} cores → {milli}m",
    )  # fmt: skip


def _memory(d: DeploymentSpec, u: Usage) -> Proposal | None:
    if u.peak_gib is None:
        return None
    peak_mib = u.peak_gib * 1024
    wanted = peak_mib * MEMORY_HEADROOM
    mib = max(MIN_MEMORY_MIB, math.ceil(wanted / MEMORY_STEP_MIB) * MEMORY_STEP_MIB)
    return Proposal(
        d.name, None, "resources.memory", d.resources.memory, f"{mib}Mi",
        f"peak RSS {peak_mib:.0f} MiB * {MEMORY_HEADROOM:g} = {wanted:.0f} MiB → {mib}Mi",
    )  # fmt: skip


def _batching(d: DeploymentSpec, batches: Buckets, mbs: int) -> Proposal | str | None:
    """Double ``max_batch_size`` when batches are full; a note when batching never engaged."""
    total = batches[-1][1] if batches else 0.0
    if total <= 0 or mbs <= 1:
        return None
    below = max((count for bound, count in batches if bound < mbs), default=0.0)
    top_bound, top = next(((b, c) for b, c in batches if b >= mbs), (math.inf, total))
    full = (top - below) / total
    lower = max((bound for bound, _ in batches if bound < mbs), default=0.0)
    if full >= FULL_BATCH_SHARE and mbs < MAX_BATCH_SIZE:
        proposed = min(mbs * 2, MAX_BATCH_SIZE)
        return Proposal(
            d.name, None, "batching.max_batch_size", mbs, proposed,
            f"{full:.0%} of {total:.0f} batches ran {lower:g}-{min(top_bound, mbs):g} rows "
            f"(at least {FULL_BATCH_SHARE:.0%}): batches fill up, so {mbs} * 2 = {proposed}",
        )  # fmt: skip
    singles = next((count for bound, count in batches if bound >= 1), 0.0)
    if singles >= total:
        return (
            f"all {total:.0f} batches ran one row: requests arrive one at a time, so batching "
            "never engaged (a lone request runs at once, so it costs nothing)"
        )
    return None


def gpu_fit(
    busy_p95: float, memory_gib: float, held_fraction: float, options: Sequence[GpuOption]
) -> tuple[GpuOption | None, str]:
    """The cheapest option whose compute share covers ``busy_p95`` of the ``held_fraction`` of
    a GPU a replica holds, and whose memory covers ``memory_gib``, both with headroom; None
    when none does. The second value is the arithmetic."""
    compute = busy_p95 * held_fraction * CPU_HEADROOM
    memory = memory_gib * MEMORY_HEADROOM
    needs = (
        f"needs {busy_p95:.0%} busy * {held_fraction:.3g} GPU * {CPU_HEADROOM:g} = "
        f"{compute:.3g} of a GPU and {memory_gib:.3g} GiB * {MEMORY_HEADROOM:g} = "
        f"{memory:.3g} GiB"
    )
    fitting = [o for o in options if o.fraction >= compute and o.memory_gib >= memory]
    if not fitting:
        return None, f"{needs}: none of the {len(options)} options fits"
    best = min(fitting, key=lambda o: (math.inf if o.hourly is None else o.hourly, o.fraction))
    price = "" if best.hourly is None else f", {best.hourly:.4g}/h"
    return best, (
        f"{needs}: {best.name} ({best.fraction:.3g} of a GPU, {best.memory_gib:g} GiB{price}) "
        "is the cheapest that fits"
    )
