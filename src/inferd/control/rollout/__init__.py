"""Progressive rollouts: canary, blue-green and A/B, decided by analysing the candidate against
the stable version each interval (docs/rollouts.md).

:func:`~inferd.control.rollout.analysis.analyse` is the pure decision;
:class:`~inferd.control.rollout.controller.RolloutController` the loop that acts on it.
"""

from inferd.control.rollout.analysis import AnalysisPolicy, Observations, Verdict, analyse
from inferd.control.rollout.controller import RolloutController
from inferd.control.rollout.history import RolloutHistory

__all__ = [
    "AnalysisPolicy",
    "Observations",
    "RolloutController",
    "RolloutHistory",
    "Verdict",
    "analyse",
]
