"""Rollout strategies as pure functions: which traffic each stage gets, and where a verdict
moves the rollout.

* **canary** — one stage per step of ``steps`` (the candidate's percentage of the traffic the
  two versions share); each passing analysis advances a step, passing the last promotes.
* **blue-green** — one stage: the stable version keeps all traffic while every request is
  mirrored to the candidate (its answers compared, never returned); a passing analysis
  switches all traffic at once.
* **ab** — one stage: the traffic split the spec declares (header routes, sticky header) is
  held; analyses are recorded but only a person promotes or aborts. Reaching ``failure_limit``
  pauses it, for that person to look (it is never rolled back automatically).

Other versions of the deployment keep their weights: stable and candidate share what is left.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from inferd.control.rollout.analysis import Action

Strategy = Literal["canary", "blue-green", "ab"]
Move = Literal["advance", "promote", "hold", "rollback", "pause"]


@dataclass(frozen=True, slots=True)
class Routing:
    """Weights (percent per version, adding up to 100) and the shadow version, if any."""

    weights: dict[str, int]
    shadow: str | None


@dataclass(frozen=True, slots=True)
class Pair:
    """The two versions a rollout moves traffic between, and the deployment's other routing."""

    stable: str
    candidate: str
    #: The deployment's weights before the rollout (every version).
    weights: Mapping[str, int]
    #: The deployment's shadow before the rollout.
    shadow: str | None = None

    @property
    def share(self) -> int:
        """The percentage stable and candidate share (what other versions leave)."""
        others = sum(w for v, w in self.weights.items() if v not in (self.stable, self.candidate))
        return max(100 - others, 0)

    def split(self, candidate_percent: int, *, mirror: bool = False) -> Routing:
        """Routing with the candidate on ``candidate_percent`` of the shared traffic; with
        ``mirror``, the candidate also receives a copy of all traffic as the shadow."""
        to_candidate = round(self.share * candidate_percent / 100)
        weights = dict(self.weights)
        weights[self.candidate] = to_candidate
        weights[self.stable] = self.share - to_candidate
        if mirror:
            shadow: str | None = self.candidate
        else:
            shadow = None if self.shadow == self.candidate else self.shadow
        return Routing(weights, shadow)


def stages(strategy: Strategy, steps: tuple[int, ...]) -> int:
    """How many stages the strategy runs through before promotion."""
    return len(steps) if strategy == "canary" else 1


def stage_routing(strategy: Strategy, steps: tuple[int, ...], pair: Pair, stage: int) -> Routing:
    """The routing of stage ``stage`` (0-based)."""
    if strategy == "canary":
        return pair.split(steps[stage])
    if strategy == "blue-green":
        return pair.split(0, mirror=True)
    return Routing(dict(pair.weights), pair.shadow)


def promoted(pair: Pair) -> Routing:
    """All shared traffic on the candidate."""
    return pair.split(100)


def rolled_back(pair: Pair) -> Routing:
    """All shared traffic on the stable version (and the candidate no longer mirrored)."""
    return pair.split(0)


def move(strategy: Strategy, stage: int, total: int, action: Action) -> Move:
    """Where a verdict takes a rollout at ``stage`` of ``total``; ab waits for a person, and
    pauses where the others roll back."""
    if action == "hold":
        return "hold"
    if strategy == "ab":
        return "pause" if action == "rollback" else "hold"
    if action == "rollback":
        return "rollback"
    return "promote" if stage + 1 >= total else "advance"
