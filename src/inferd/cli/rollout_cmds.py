"""``inferd rollout start|status|promote|pause|resume|abort|history DEPLOYMENT``.

Each command is one call to the admin API of the running ``inferd up`` (see
:mod:`inferd.control.rollout.api`); the rollout itself runs there.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from inferd.cli._app import (
    emit_json,
    handles_errors,
    json_option,
    main,
    rollout_json,
    stderr,
    stdout,
)
from inferd.config import store_settings

if TYPE_CHECKING:
    from inferd.control.admin.client import AdminClient, RolloutAction
    from inferd.control.rollout.history import DecisionRecord, HistoryPage
    from inferd.control.rollout.state import RolloutStatus


def _client() -> AdminClient:
    from inferd.control.admin.client import AdminClient

    return AdminClient(store_settings().root)


@main.group()
def rollout() -> None:
    """Progressive rollouts of the running `inferd up` (canary, blue-green, A/B)."""


@rollout.command("start")
@click.argument("deployment")
@click.option(
    "--candidate",
    callback=lambda _ctx, _param, value: _named(value),
    help="Version to roll out (default: the one other version).",
)
@json_option
@handles_errors
def start(deployment: str, *, candidate: str | None, as_json: bool) -> None:
    """Start rolling a version out by the deployment's `rollout:` policy."""
    _show(_client().rollout_start(deployment, candidate), as_json)


def _named(candidate: str | None) -> str | None:
    """An empty ``--candidate`` (``"$VERSION"`` unset) is refused: the default is for none."""
    if candidate is not None and not candidate.strip():
        raise click.BadParameter("empty; name a version of the deployment")
    return candidate


@rollout.command("status")
@click.argument("deployment")
@json_option
@handles_errors
def status(deployment: str, *, as_json: bool) -> None:
    """Phase, step, candidate weight and the latest analyses of the deployment's rollout."""
    _show(_client().rollout_status(deployment), as_json)


def _action(name: RolloutAction, doc: str) -> None:
    @rollout.command(name, help=doc)
    @click.argument("deployment")
    @json_option
    @handles_errors
    def command(deployment: str, *, as_json: bool) -> None:
        _show(_client().rollout_act(deployment, name), as_json)


_action("promote", "Promote the candidate now (skipping the remaining steps).")
_action("pause", "Hold the current step: traffic stays, analysis stops acting.")
_action("resume", "Resume a paused rollout.")
_action("abort", "Send all traffic back to the stable version at once.")


@rollout.command("history")
@click.argument("deployment")
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=50,
    show_default=True,
    help="Show the most recent decisions, this many (oldest first).",
)
@json_option
@handles_errors
def history(deployment: str, *, limit: int, as_json: bool) -> None:
    """Every decision of the deployment's rollouts, with the numbers that caused it (read
    from $INFERD_HOME when no `inferd up` runs)."""
    result, offline = _history(deployment, limit)
    if as_json:
        emit_json(rollout_json(result))
        return
    out = stdout()
    if not result["decisions"]:
        out.print(
            f"{deployment}: no rollout decisions yet (start one with: inferd rollout start "
            f"{deployment})",
            markup=False,
        )
    for record in result["decisions"]:
        out.print(_line(record), markup=False)
    from inferd.control.rollout.history import ENDINGS

    last = result["decisions"][-1] if result["decisions"] else None
    if offline and last is not None and last.get("event") not in ENDINGS:
        stderr().print(
            f"{deployment}: rollout {last.get('rollout')} has no ending and no inferd up runs "
            "for this store: its inferd up was killed mid-rollout; the next inferd up records "
            "it as aborted",
            markup=False,
        )


def _history(deployment: str, limit: int) -> tuple[HistoryPage, bool]:
    """The running ``inferd up``'s answer; without one, the history it wrote, so that a
    rollout's decisions stay readable after ``inferd down`` or a crash (and True)."""
    from inferd.control.rollout.history import RolloutHistory
    from inferd.control.up_state import read_state

    root = store_settings().root
    if read_state(root) is None:
        records = RolloutHistory(root).read(deployment, limit)
        return {"deployment": deployment, "decisions": records}, True
    return _client().rollout_history(deployment, limit), False


def _show(result: RolloutStatus, as_json: bool) -> None:
    if as_json:
        emit_json(rollout_json(result))
        return
    out = stdout()
    head = (
        f"{result['deployment']}: rollout {result['id']} ({result['strategy']}) "
        f"{result['stable']} → {result['candidate']}: {result['phase']}, "
        f"step {result['stage']}/{result['stages']}, candidate {result['candidate_weight']}%, "
        f"failures {result['failures']}/{result['failure_limit']}"
    )
    out.print(head, markup=False)
    for record in result["decisions"][-5:]:
        out.print("  " + _line(record), markup=False)


def _line(record: DecisionRecord) -> str:
    # Date and UTC time, as `inferd history` prints a tag move: the two are read side by side.
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(record.get("time", 0))))
    head = f"{when} {record.get('rollout')} {record.get('event')} step {record.get('stage')} "
    head += f"candidate {record.get('candidate_weight')}%"
    verdict = record.get("verdict")
    if verdict:
        head += ": " + "; ".join(verdict.get("reasons", []))
    elif record.get("reason"):
        head += f": {record['reason']}"
    obs = record.get("observations")
    if obs:
        c, s = obs["candidate"], obs["stable"]
        # Mirrored copies only; records written before it was recorded have none.
        refused = c.get("refused")
        head += (
            f" [candidate {c['requests']} req, {c['error_rate']:.2%} errors, "
            + ("" if refused is None else f"{refused} refused, ")
            + f"p99 {_ms(c['p99_s'])}; stable {s['requests']} req, p99 {_ms(s['p99_s'])}"
        )
        share = obs["divergence"]["label_share"]
        head += f"; divergence {share:.2%}]" if share is not None else "]"
    if record.get("tagged"):
        head += f"; tagged {record['tagged']}"
    if record.get("reverted"):
        head += f"; {record['reverted']} moved back to {_model(record)}"
    return head


def _model(record: DecisionRecord) -> str:
    """The model a reverted alias names again, its digest shortened (``fraud@sha256:0a1b…``,
    12 hex digits); records written before it was recorded name the stable version."""
    reference = record.get("reverted_to")
    if reference is None:
        return f"what {record.get('stable')} served"
    name, _, digest = reference.partition("@")
    return f"{name}@{digest[:19]}"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"
