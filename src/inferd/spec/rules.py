"""The spec's cross-field rules: problems no single field shows, each at its exact location.

Pydantic checks each field; these rules check how fields agree (weights name versions and add up
to 100, a canary's steps end at 100, min <= max…), within a deployment (:func:`deployment_problems`)
or across the spec's sections (:func:`spec_problems`). Each problem carries its location inside the
model that found it, and :func:`raise_problems` raises them all as one pydantic error, so
:mod:`inferd.spec.loading` maps every one to a line and column like any other.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from inferd.config import LLAMA_CPP_MAX_SEQUENCES
from inferd.spec.llm import more_gpu_flags, owned_flags

if TYPE_CHECKING:
    from inferd.spec.model import DeploymentSpec

#: Error types of problems found by the cross-field rules (pydantic's own types name the rest):
#: about a value, or about a mapping key (a weight naming no version).
RULE_ERROR = "spec_rule"
RULE_KEY_ERROR = "spec_rule_key"

Loc = tuple[str | int, ...]


class Problem(NamedTuple):
    """A cross-field problem at ``loc`` (relative to the model that found it)."""

    loc: Loc
    reason: str
    #: The problem is the key at ``loc`` itself, not its value.
    at_key: bool = False
    #: The fields the rule read, as dotted paths relative to the model that found it
    #: (``rollout.steps``; a section, ``versions``, stands for every field in it): a field error
    #: at or inside one of them means the rule judged a stand-in, so :mod:`inferd.spec.loading`
    #: drops the problem. Empty: every field of the model.
    reads: frozenset[str] = frozenset()


def raise_problems(model: str, problems: list[Problem]) -> None:
    """Raise every cross-field problem at once, each at its own location.

    Each error's context names ``model`` (the one whose rules found it), so
    :mod:`inferd.spec.loading` can tell the spec-wide rules' problems from the others, the
    fields the rule read, and ``depth``, how many parts of the error's location lie below that
    model (so the model's own location is the rest).
    """
    if problems:
        raise ValidationError.from_exception_data(
            model,
            [
                InitErrorDetails(
                    type=PydanticCustomError(
                        RULE_KEY_ERROR if p.at_key else RULE_ERROR,
                        "{reason}",
                        {
                            "reason": p.reason,
                            "reads": ",".join(sorted(p.reads)),
                            "model": model,
                            "depth": len(p.loc),
                        },
                    ),
                    loc=p.loc,
                    input=None,
                )
                for p in problems
            ],
        )


def deployment_problems(d: DeploymentSpec) -> list[Problem]:
    """Every cross-field problem of one deployment, each with its location inside it and the
    fields it read (its own, else its group's)."""
    return [p if p.reads else p._replace(reads=reads) for rule, reads in _RULES for p in rule(d)]


def _traffic_problems(d: DeploymentSpec) -> Iterator[Problem]:
    names = [v.name for v in d.versions]
    for i, count in duplicates(names):
        yield Problem(("versions", i, "name"), f"version {names[i]!r} appears {count} times")
    known = set(names)
    weights = d.weights()
    for name in d.traffic.weights:
        if name not in known:
            yield Problem(
                ("traffic", "weights", name), f"{name!r} is not a version of {d.name!r}", True
            )
    if d.traffic.weights and sum(d.traffic.weights.values()) != 100:
        total = sum(d.traffic.weights.values())
        yield Problem(
            ("traffic", "weights"),
            f"weights add up to {total}, not 100",
            reads=frozenset({"traffic.weights"}),
        )
    elif not d.traffic.weights and len(d.versions) > 1:
        yield Problem(
            ("versions",), "several versions need traffic.weights saying how to split requests"
        )
    shadow = d.traffic.shadow
    if shadow is not None and shadow not in known:
        yield Problem(("traffic", "shadow"), f"{shadow!r} is not a version of {d.name!r}")
    elif shadow is not None and weights.get(shadow) == 100:
        yield Problem(
            ("traffic", "shadow"), f"{shadow!r} takes all traffic, so it cannot also mirror it"
        )
    for i, route in enumerate(d.traffic.header_routes):
        if route.version not in known:
            yield Problem(
                ("traffic", "header_routes", i, "version"),
                f"{route.version!r} is not a version of {d.name!r}",
            )
    # With min_replicas 0 a weighted version may start at zero: the gateway holds its first
    # request while the autoscaler starts a replica.
    scales_from_zero = d.autoscaling is not None and d.autoscaling.min_replicas == 0
    for i, version in enumerate(d.versions):
        if version.replicas == 0 and weights.get(version.name, 0) > 0 and not scales_from_zero:
            yield Problem(
                ("versions", i, "replicas"),
                f"{version.name!r} takes {weights[version.name]}% of traffic but has 0 replicas",
            )


def _resource_problems(d: DeploymentSpec) -> Iterator[Problem]:
    if d.runtime.device == "cuda" and d.resources.gpu == 0:
        yield Problem(("runtime", "device"), "device 'cuda' needs resources.gpu of at least 1")
    if d.runtime.device == "cpu" and "device" in d.runtime.model_fields_set and d.resources.gpu:
        # Left out, device follows the GPUs (auto); written, it contradicts them.
        yield Problem(
            ("runtime", "device"),
            f"device 'cpu' with resources.gpu {d.resources.gpu}: the replica would hold GPUs it "
            "never uses; set device 'cuda' (or 'auto', or leave it out) to use them, or "
            "resources.gpu 0",
        )
    if d.resources.gpu_memory is not None and d.resources.gpu == 0:
        yield Problem(("resources", "gpu_memory"), "gpu_memory is set but resources.gpu is 0")


def _llm_problems(d: DeploymentSpec) -> Iterator[Problem]:
    llm = d.llm
    names = {v.name: v for v in d.versions}
    for i, version in enumerate(d.versions):
        base = version.adapter_of
        if base is None:
            continue
        at = ("versions", i, "adapter_of")
        if llm is None:
            yield Problem(at, "adapter_of needs the deployment's llm section")
        elif base == version.name or base not in names:
            yield Problem(at, f"{base!r} is not another version of {d.name!r}")
        elif names[base].adapter_of is not None:
            yield Problem(at, f"{base!r} is itself an adapter: an adapter applies to a base model")
    if llm is None:
        return
    if d.batching.model_fields_set:
        fields = ", ".join(sorted(d.batching.model_fields_set))
        yield Problem(
            ("batching",),
            f"batching ({fields}) is for tensor models: a language model batches continuously, "
            "up to llm.max_num_seqs sequences at once",
        )
    if llm.engine == "vllm" and "threads" in d.runtime.model_fields_set:
        yield Problem(
            ("runtime", "threads"),
            "engine 'vllm' computes on the GPUs and has no intra-op thread setting",
        )
    if d.logging is not None:  # the OpenAI relay logs no payload (docs/llm.md)
        yield Problem(
            ("logging",),
            "payload logging covers the OIP and KServe v1 routes; a language model's OpenAI "
            "requests are not logged, so it would log nothing",
        )
    if llm.image is not None and llm.engine != "vllm":
        yield Problem(("llm", "image"), f"image is the vLLM pod's; engine {llm.engine!r} has none")
    if llm.engine == "inferd":
        for field in ("dtype", "kv_cache_dtype"):
            if getattr(llm, field) != "auto":
                yield Problem(
                    ("llm", field),
                    f"engine 'inferd' computes in the GGUF file's own types: {field} is for "
                    "vllm (or leave it 'auto')",
                )
        if llm.engine_args:
            yield Problem(
                ("llm", "engine_args"), "engine_args go to an external engine, not 'inferd'"
            )
    if llm.engine != "inferd" and llm.max_waiting_seqs is not None:
        yield Problem(
            ("llm", "max_waiting_seqs"),
            f"engine {llm.engine!r} queues without a bound: max_waiting_seqs bounds engine "
            "'inferd''s queue (leave it unset)",
        )
    if llm.engine != "vllm" and llm.max_num_seqs > LLAMA_CPP_MAX_SEQUENCES:
        yield Problem(
            ("llm", "max_num_seqs"),
            f"engine {llm.engine!r} runs llama.cpp, which decodes at most "
            f"{LLAMA_CPP_MAX_SEQUENCES} sequences together",
        )
    for flag, instead in owned_flags(llm.engine, llm.engine_args):
        yield Problem(("llm", "engine_args"), f"{flag} is set by inferd: {instead}")
    for flag, instead in more_gpu_flags(llm.engine, llm.engine_args):
        yield Problem(
            ("llm", "engine_args"),
            f"{flag} would run a replica on more GPUs than resources.gpu ({d.resources.gpu}) "
            f"requests for its pod: {instead}",
        )
    if llm.engine == "vllm" and d.runtime.device == "cpu" and d.resources.gpu == 0:
        yield Problem(
            ("llm", "engine"),
            "engine 'vllm' serves on GPUs: set resources.gpu (and runtime.device 'cuda')",
        )


_STEPS = frozenset({"rollout.strategy", "rollout.steps"})


def _rollout_problems(d: DeploymentSpec) -> Iterator[Problem]:
    rollout = d.rollout
    if rollout is None:
        return
    # One version is enough: the rollout policy is how a change of its model (an apply, or the
    # alias it follows moving in the store) arrives.
    steps = rollout.steps
    if rollout.strategy == "canary":
        increasing = all(a < b for a, b in itertools.pairwise(steps))
        if not steps or not increasing or steps[0] < 1 or steps[-1] != 100:
            yield Problem(
                ("rollout", "steps"),
                f"canary steps are increasing percentages from 1 that end at 100, got {steps}",
                reads=_STEPS,
            )
    elif steps:
        yield Problem(
            ("rollout", "steps"), f"{rollout.strategy} rollouts take no steps", reads=_STEPS
        )
    deadline = rollout.progress_deadline
    if deadline is not None and deadline < rollout.interval:
        yield Problem(
            ("rollout", "progress_deadline"),
            f"{deadline:g} s is shorter than the interval ({rollout.interval:g} s): an "
            "analysis waits at least one interval",
            reads=frozenset({"rollout.progress_deadline", "rollout.interval"}),
        )
    if rollout.strategy == "ab" and not d.traffic.header_routes:
        yield Problem(
            ("rollout", "strategy"),
            "an ab rollout needs traffic.header_routes to split by",
            reads=frozenset({"rollout.strategy", "traffic.header_routes"}),
        )


def _autoscaling_problems(d: DeploymentSpec) -> Iterator[Problem]:
    scaling = d.autoscaling
    if scaling is None:
        return
    if scaling.min_replicas > scaling.max_replicas:
        yield Problem(
            ("autoscaling", "min_replicas"),
            f"min_replicas ({scaling.min_replicas}) is above max_replicas ({scaling.max_replicas})",
            reads=frozenset({"autoscaling.min_replicas", "autoscaling.max_replicas"}),
        )
    if scaling.panic_window > scaling.stable_window:
        yield Problem(
            ("autoscaling", "panic_window"),
            f"panic_window ({scaling.panic_window:g} s) is longer than stable_window "
            f"({scaling.stable_window:g} s): panic mode reacts to bursts the stable window "
            "averages away, so set panic_window to at most stable_window (Knative's is 1-100 % "
            "of it)",
            reads=frozenset({"autoscaling.panic_window", "autoscaling.stable_window"}),
        )
    if scaling.scale_to_zero_after is not None and scaling.min_replicas != 0:
        yield Problem(
            ("autoscaling", "scale_to_zero_after"),
            "scaling to zero needs min_replicas: 0",
            reads=frozenset({"autoscaling.scale_to_zero_after", "autoscaling.min_replicas"}),
        )
    for i, version in enumerate(d.versions):
        if version.replicas > scaling.max_replicas:
            yield Problem(
                ("versions", i, "replicas"),
                f"{version.replicas} replicas is above autoscaling.max_replicas "
                f"({scaling.max_replicas})",
                reads=frozenset({"versions", "autoscaling.max_replicas"}),
            )


#: Each group of rules and the fields of a deployment it reads, for the problems that name none
#: of their own. When a deployment has field errors, :mod:`inferd.spec.loading` re-checks it
#: without the bad fields, and keeps only the problems of rules that read none of them (they
#: would be judging a default that stands in for the bad value).
_RULES: tuple[tuple[Callable[[DeploymentSpec], Iterator[Problem]], frozenset[str]], ...] = (
    (_traffic_problems, frozenset({"versions", "traffic", "autoscaling.min_replicas"})),
    (_resource_problems, frozenset({"runtime.device", "resources.gpu", "resources.gpu_memory"})),
    (_llm_problems, frozenset({"llm", "versions", "runtime.device", "resources.gpu"})),
    (_rollout_problems, frozenset({"rollout", "traffic.header_routes"})),
    (_autoscaling_problems, frozenset({"autoscaling", "versions"})),
)


#: A field a spec-wide rule reads: its path from the spec's root, where ``"*"`` stands for every
#: item of a list (the rule is handed the list of the items' values).
FieldPath = tuple[str, ...]


class SpecRule(NamedTuple):
    """A rule across the spec's sections, and the fields it is handed, in its arguments' order.

    A rule is handed None for a field that is unset or, when :mod:`inferd.spec.loading` runs it
    on a spec with field errors, not valid: either way there is nothing there to judge.
    """

    check: Callable[..., Iterable[Problem]]
    reads: tuple[FieldPath, ...]


def spec_problems(read: Callable[[FieldPath], Any]) -> list[Problem]:
    """Every problem the spec-wide rules find, each rule handed the fields it reads by ``read``.

    The spec's validator reads them from the spec itself (:func:`read_field`). Pydantic skips
    that validator when any field has an error, so :mod:`inferd.spec.loading` then runs these
    same rules on the fields read from the document, with None for a field that an error makes
    untrustworthy: a typo in one section hides no problem in another, and no problem is
    reported that is only a consequence of a bad value. Locations are from the spec's root.
    """
    return [p for rule in SPEC_RULES for p in rule.check(*(read(path) for path in rule.reads))]


def read_field(spec: Any, path: FieldPath) -> Any:
    """The value at ``path`` in a validated spec (or a section of one): a list of the items'
    values for ``"*"``; None (no items, for ``"*"``) under a section that is unset."""
    if not path:
        return spec
    if spec is None:
        return [] if "*" in path else None
    head, rest = path[0], path[1:]
    if head == "*":
        return [read_field(item, rest) for item in spec]
    return read_field(getattr(spec, head), rest)


def _unique_deployment_names(names: Sequence[str | None]) -> Iterator[Problem]:
    for i, count in duplicates(names):
        if names[i] is not None:
            yield Problem(
                ("deployments", i, "name"), f"deployment {names[i]!r} appears {count} times"
            )


def _timeouts_within_the_gateway(
    limit: float | None, timeouts: Sequence[float | None]
) -> Iterator[Problem]:
    if limit is None:
        return
    for i, timeout in enumerate(timeouts):
        if timeout is not None and timeout > limit:
            yield Problem(
                ("deployments", i, "request_timeout"),
                f"{timeout:g} s is longer than gateway.request_timeout ({limit:g} s), which "
                "ends requests through the gateway first",
            )


#: The rules across the spec's sections (the deployments' own rules are :data:`_RULES`).
SPEC_RULES: tuple[SpecRule, ...] = (
    SpecRule(_unique_deployment_names, (("deployments", "*", "name"),)),
    SpecRule(
        _timeouts_within_the_gateway,
        (("gateway", "request_timeout"), ("deployments", "*", "request_timeout")),
    ),
)


def duplicates(names: Sequence[Hashable]) -> list[tuple[int, int]]:
    """``(index, count)`` of every repeat after a name's first occurrence."""
    counts = Counter(names)
    seen: set[Hashable] = set()
    out = []
    for i, name in enumerate(names):
        if name in seen:
            out.append((i, counts[name]))
        seen.add(name)
    return out
