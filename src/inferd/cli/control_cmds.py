"""Control-plane commands: ``inferd up``, ``inferd apply``, ``inferd ps``, ``inferd down``,
``inferd spec …``."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from inferd.cli._app import (
    FILE,
    emit_json,
    handles_errors,
    json_option,
    main,
    print_whole,
    rollout_json,
    stdout,
)
from inferd.config import store_settings
from inferd.errors import Cancelled
from inferd.spec.loading import SpecError, load_spec
from inferd.store.layout import ensure_home

if TYPE_CHECKING:
    from inferd.control.admin.documents import AdminStatus
    from inferd.control.autoscale.status import ScalingStatus


@main.command()
@click.argument("spec_file", type=FILE)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Gateway port (overrides the spec); gRPC's default, port + 1, follows it.",
)
@click.option(
    "--grpc-port",
    type=click.IntRange(0, 65535),
    help="Gateway gRPC port (overrides the spec and the port + 1 default; 0 picks a free one).",
)
@click.option(
    "--demo-traffic", is_flag=True, help="Send a few requests a second so the dashboard moves."
)
@click.option(
    "--drain-delay",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help="After SIGTERM, keep serving through the gateway this long with its readiness already "
    "503, so load balancers stop sending before the drain (default 0; a second signal ends it "
    "early). Then new connections get 503 + Retry-After while in-flight requests finish.",
)
@handles_errors
def up(
    spec_file: Path,
    *,
    port: int | None,
    grpc_port: int | None,
    demo_traffic: bool,
    drain_delay: float,
) -> None:
    """Run a whole spec locally: replicas, the gateway and its dashboard, the admin API.

    Prints the gateway and dashboard URLs and a working curl. SIGTERM or Ctrl-C drains: the
    gateway's readiness turns 503, it serves on for --drain-delay, then finishes the requests in
    flight (new connections get 503 + Retry-After), then every replica stops.
    """
    import uvloop

    from inferd.control.up import UpOptions, run_up
    from inferd.server import configure_logging

    spec = load_spec(spec_file)
    configure_logging()
    store = store_settings()
    ensure_home(store.root)
    options = UpOptions(spec, str(spec_file), store, port, demo_traffic, grpc_port, drain_delay)

    def say(line: str) -> None:
        print(line, flush=True)

    raise SystemExit(uvloop.run(run_up(options, say)))


@main.command()
@click.argument("spec_file", type=FILE)
@json_option
@handles_errors
def apply(spec_file: Path, *, as_json: bool) -> None:
    """Apply a spec to the running `inferd up`: weights, versions, replica counts.

    Changes are made without dropping requests; applying the same file twice changes nothing.
    Prints each version's change, each deployment's new traffic and each rollout it starts (a
    main version's new model arrives through its rollout policy); a change to a gateway
    setting read once at start (port, host…) is refused: restart `inferd up` for it. The
    file's traffic stands over a promotion by `inferd rollout`, with a warning naming it.
    """
    from inferd.control.admin.client import AdminClient
    from inferd.control.apply_plan import UndonePromotion, describe_route

    load_spec(spec_file)  # problems are reported here, against the user's own file
    client = AdminClient(store_settings().root)
    try:
        result = client.apply(spec_file.read_text(encoding="utf-8"), str(spec_file))
    except KeyboardInterrupt:  # the command stops; an apply inferd up received does not
        raise Cancelled(
            f"cancelled (interrupted): inferd up (pid {client.state.pid}) goes on with the "
            f"apply of {spec_file} if it received it, without rolling back; see inferd ps"
        ) from None
    if as_json:
        emit_json(result)
        return
    changes = [c for c in result["changes"] if c["action"] != "keep"]
    routes = result.get("routes", [])  # an inferd up from before routes were reported has none
    settings = result.get("settings", [])  # likewise
    rollouts = result.get("rollouts", [])  # likewise
    undone = result.get("undone", [])  # likewise
    rules_only = result.get("rules_only", [])  # likewise
    render_only = result.get("render_only", [])  # likewise
    out = stdout()
    if not (changes or routes or settings or rollouts or rules_only or render_only):
        out.print("no changes")
    for c in changes:
        out.print(
            f"{c['deployment']}/{c['version']}: {c['action']} "
            f"(+{c['start']} -{c['retire']} replicas)"
        )
    for r in routes:
        out.print(describe_route(r["deployment"], r["weights"], r["shadow"], tuple(r["changed"])))
    if settings:
        out.print(f"in effect now: {', '.join(settings)}")
    if rules_only:
        out.print(
            f"alerting rules only, not used by inferd up: {', '.join(rules_only)} "
            f"(regenerate them: inferd k8s rules {spec_file} --local)",
            markup=False,
        )
    if render_only:
        out.print(
            f"for inferd k8s render only, not used by inferd up: {', '.join(render_only)}",
            markup=False,
        )
    for line in [*result.get("autoscaled", []), *rollouts]:
        out.print(line, markup=False)
    for u in undone:
        promotion = UndonePromotion(
            u["deployment"], u["rollout"], u["promoted"], u["restored"], u["weights"]
        )
        out.print(f"warning: {promotion.describe()}", markup=False)


@main.command()
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=120.0,
    show_default=True,
    help="Seconds to let it drain before it is killed.",
)
@handles_errors
def down(*, timeout: float) -> None:
    """Stop the running `inferd up`: it drains in-flight requests, then every replica stops.

    As Ctrl-C or SIGTERM does: readiness turns 503, it serves on for its --drain-delay, then
    finishes the requests it holds (up to the spec's gateway.drain_timeout). After --timeout
    seconds it is killed, as `docker stop` does, and its replicas with it.
    """
    from inferd.control.admin.client import AdminClient
    from inferd.control.up_state import stop

    client = AdminClient(store_settings().root)
    # up.json names the process by its pid and start time (a reused pid reads as no up), so
    # an up already draining, its admin API closed, is stopped and waited for all the same; a
    # file without the start time is trusted only once its admin API answers.
    if client.state.pid_start is None:
        client.status()
    pid = client.state.pid
    try:
        stopped = stop(pid, timeout)
    except KeyboardInterrupt:  # it was told to stop already: that goes on without this command
        raise Cancelled(
            f"cancelled (interrupted): inferd up (pid {pid}) goes on draining, then stops; "
            "it is not killed"
        ) from None
    if stopped.killed:
        line = f"inferd up (pid {pid}) had not finished draining after {timeout:g} s: killed"
    else:
        line = f"inferd up (pid {pid}) stopped in {stopped.seconds:.1f} s"
    stdout().print(line, markup=False)


@main.command()
@json_option
@handles_errors
def ps(*, as_json: bool) -> None:
    """The replicas of the running `inferd up`: state, pid, port, restarts, uptime, weights."""
    from inferd.control.admin.client import AdminClient

    status = AdminClient(store_settings().root).status()
    if as_json:
        doc: dict[str, Any] = dict(status)
        if (gateway := status.get("gateway")) is not None:  # times as every --json prints them
            rollouts = [rollout_json(r) for r in gateway.get("rollouts", [])]
            doc["gateway"] = {**gateway, "rollouts": rollouts}
        emit_json(doc)
        return
    # Each replica whole on its line, however long its state: ps is often piped to grep.
    print_whole(_ps_table(status))


def _ps_table(status: AdminStatus) -> Table:
    """One row per replica process, and one per routed version with none (a deployment scaled
    to zero shows as ``0/N``, N its most replicas, with its scale-from-zero state, or why its
    last start failed while the next one waits)."""
    weights = {
        (d["name"], v["name"]): v["weight"] for d in status["deployments"] for v in d["versions"]
    }
    shadows = {(d["name"], d["shadow"]) for d in status["deployments"] if d["shadow"]}
    entries = status.get("gateway", {}).get("autoscaling", [])
    # One entry per scaled version (the main one, and each one woken from zero).
    scaling = {(s["deployment"], s["version"]): s for s in entries}
    held_by = {s["deployment"]: s["held"] for s in entries}  # per deployment, in each entry

    def weight(key: tuple[str, str]) -> str:
        text = f"{weights[key]:g}%" if key in weights else "-"
        return text + (" +shadow" if key in shadows else "")

    table = Table(box=None, header_style="bold")
    for column in (
        "DEPLOYMENT", "VERSION", "REPLICA", "PID", "PORT", "STATE", "RESTARTS", "UPTIME", "WEIGHT",
    ):  # fmt: skip
        table.add_column(column)
    # In the routing's order: a version without replicas is listed in its deployment's place,
    # a replica no version routes (draining) last.
    order = {
        (d["name"], v["name"]): (i, j)
        for i, d in enumerate(status["deployments"])
        for j, v in enumerate(d["versions"])
    }
    rows: list[tuple[tuple[int, int], list[str]]] = []
    for r in status["replicas"]:
        key = (r["deployment"], r["version"])
        state = r["state"] + (f" ({r['reason']})" if r["reason"] else "")
        held = held_by.get(key[0], 0)
        if r["state"] == "starting" and held:
            state += f" (scaling from zero: {held} requests held)"
        rows.append((order.get(key, (len(order), 0)), [
            r["deployment"], r["version"], r["replica"], _text(r["pid"]), _text(r["port"]),
            state, str(r["restarts"]), _uptime(r["uptime_s"]), weight(key),
        ]))  # fmt: skip
    running = {(r["deployment"], r["version"]) for r in status["replicas"]}
    for d in status["deployments"]:
        for v in d["versions"]:
            if (d["name"], v["name"]) not in running:
                own = scaling.get((d["name"], v["name"]))
                first = next((s for s in entries if s["deployment"] == d["name"]), None)
                replicas, state = _no_replica(own, first, v["weight"])
                rows.append((order[(d["name"], v["name"])], [
                    d["name"], v["name"], replicas, "-", "-", state, "-", "-",
                    weight((d["name"], v["name"])),
                ]))  # fmt: skip
    for _, cells in sorted(rows, key=lambda row: row[0]):
        table.add_row(*cells)
    return table


def _no_replica(
    scaling: ScalingStatus | None, deployment: ScalingStatus | None, weight: float
) -> tuple[str, str]:
    """The REPLICA and STATE of a routed version without a replica process (``scaling``: the
    autoscaler's entry for that version; ``deployment``: one of its deployment's, for a
    version not woken yet)."""
    if scaling is None:
        if deployment is None or deployment["cold_start_timeout_s"] is None:
            return "0/0", "no replicas"
        wakes = "the next request" if weight else "weight 0, so a rollout step or header route"
        return f"0/{deployment['max_replicas']}", f"scaled to zero: {wakes} starts one"
    replicas = f"0/{scaling['max_replicas']}"
    failure = scaling.get("start_failure")  # an inferd up from before it was reported has none
    if failure is not None:
        retry = failure["retry_in_s"]
        when = f"next try in {retry:g} s" if retry else "the next request tries again"
        failures = failure["failures"]
        return replicas, f"start failed ({failures} in a row, {when}): {failure['message']}"
    timeout = scaling["cold_start_timeout_s"]
    if timeout is None:
        return replicas, "no replicas (does not scale from zero: requests are refused)"
    if scaling["held"]:
        return replicas, f"scaling from zero: {scaling['held']} requests held"
    return replicas, f"scaled to zero: the next request starts one (held up to {timeout:g} s)"


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


@main.group()
def spec() -> None:
    """Check and describe spec files (inferd.yaml)."""


@spec.command("validate")
@click.argument("spec_file", type=FILE)
@json_option
@handles_errors
def validate(spec_file: Path, *, as_json: bool) -> None:
    """Report every problem in a spec file with its line and column; exit 2 if there are any."""
    try:
        load_spec(spec_file)
    except SpecError as exc:
        if as_json:
            emit_json({"valid": False, "problems": [dataclasses.asdict(p) for p in exc.problems]})
        else:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
        raise SystemExit(2) from None
    if as_json:
        emit_json({"valid": True, "problems": []})
    else:
        click.echo(f"{spec_file}: valid")


@spec.command("schema")
@handles_errors
def schema() -> None:
    """Print the spec's JSON Schema (point your editor at it for completion)."""
    from inferd.spec.model import json_schema

    emit_json(json_schema())
    sys.stdout.flush()
