"""``inferd cost``: a bad window exits 2 before anything is asked, no ``inferd up`` exits 7, and
a GPU version is fitted to the machine's GPU's MIG profiles (``inferd gpu plan``'s tables) at
the spec's GPU price."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.cli.cost_cmds import _gpu_fits, _gpu_options
from inferd.control.cost.documents import ProposalRow, Recommendations
from inferd.cost.prices import Node, PriceBook
from inferd.spec.cost import CostSpec
from inferd.spec.loading import parse_spec

from .cost_stack import RecommendingStack, answered_by, proposal

GPU_SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: llm
    versions: [{name: v1, model: "llm:v1"}]
    runtime: {device: cuda}
    resources: {gpu: 1}
cost: {gpu_hour: {H100: 2.8}, discount: 0.5}
"""
H100 = {"product": "NVIDIA H100 80GB HBM3", "memory_total_gib": 79.6}


@pytest.mark.parametrize("command", ["report", "recommend"])
def test_a_bad_window_exits_2_naming_it(command: str, inferd_home: Path) -> None:
    result = CliRunner().invoke(main, ["cost", command, "--window", "soon"])
    assert result.exit_code == 2
    assert "window: 'soon' is not a duration" in result.output


def test_without_inferd_up_it_is_unavailable(inferd_home: Path) -> None:
    result = CliRunner().invoke(main, ["cost", "report"])
    assert result.exit_code == 7
    assert "no `inferd up` is running" in result.output


def test_the_gpu_options_are_the_whole_gpu_and_its_mig_profiles() -> None:
    book = PriceBook.of(CostSpec(gpu_hour={"H100": 2.8}, discount=0.5), Node(16, 128))
    options = {o.name: o for o in _gpu_options(H100, book)}  # type: ignore[arg-type]
    assert options["a whole NVIDIA H100 80GB HBM3"].hourly == pytest.approx(1.4)
    one = options["MIG 1g.10gb"]
    assert (one.fraction, one.memory_gib, one.hourly) == pytest.approx((1 / 7, 10, 0.2))
    assert options["MIG 3g.40gb"].fraction == pytest.approx(3 / 7)
    unpriced = _gpu_options(H100, PriceBook.of(CostSpec(price_per_node_hour=3), Node(16, 128)))  # type: ignore[arg-type]
    assert {o.hourly for o in unpriced} == {None}


def test_a_lightly_used_gpu_fits_a_small_slice() -> None:
    doc = {
        "gpu": H100,
        "advice": [
            {
                "deployment": "llm", "version": "v1", "proposals": [], "notes": [],
                "usage": {"gpu_busy_p95": 0.1, "gpu_memory_gib": 6.0},
            }
        ],
    }  # fmt: skip
    fits = _gpu_fits(doc, parse_spec(GPU_SPEC, "inferd.yaml"))  # type: ignore[arg-type]
    assert fits["llm/v1"].endswith(
        "MIG 1g.10gb (0.143 of a GPU, 10 GiB, 0.2/h) is the cheapest that fits"
    )
    no_gpu: Recommendations = {
        "gpu": None,
        "advice": [],
        "changes": [],
        "window_s": 1,
        "covered_s": 1,
    }
    assert _gpu_fits(no_gpu, parse_spec(GPU_SPEC, "x")) == {}


SCALED_SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions: [{name: v1, model: "fraud:v1", replicas: 2}]
    autoscaling: {min_replicas: 1, max_replicas: 4}
"""


def _max_replicas(proposed: int) -> ProposalRow:
    arithmetic = "2 * peak load 8 req/s * 1.3 / 580.6 → 1; no version has more replicas than 1 → 1"
    return proposal("autoscaling.max_replicas", 4, proposed, arithmetic=arithmetic)


def _stack(spec: Path, change: ProposalRow) -> RecommendingStack:
    """fraud/v1 at 0.008 cores, ``change`` proposed and differing from the running spec."""
    return RecommendingStack(spec, [change], [change], cores_p95=0.008)


def test_max_replicas_never_drops_below_the_replicas_the_file_starts_with(
    tmp_path: Path, inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SCALED_SPEC, encoding="utf-8")
    # The autoscaler took fraud/v1 from the 2 replicas the file starts it with down to 1: the
    # server sizes from that running spec.
    stack = _stack(spec, _max_replicas(1))
    answered_by(monkeypatch, stack)
    sized = tmp_path / "sized.yaml"
    result = CliRunner().invoke(main, ["cost", "recommend", "--window", "1m", "-o", str(sized)])
    assert result.exit_code == 0, result.output
    assert "autoscaling.max_replicas: 4 -> 2" in result.output
    assert "inferd.yaml starts fraud/v1 with 2 replicas → 2" in result.output
    patched = parse_spec(sized.read_text(encoding="utf-8"))
    assert patched.deployments[0].autoscaling is not None
    assert patched.deployments[0].autoscaling.max_replicas == 2


def test_an_unset_field_reads_unset_in_the_changes_too(
    tmp_path: Path, inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SCALED_SPEC, encoding="utf-8")
    arithmetic = "p95 0.008 cores * 1.3 → 250m (the least)"
    cpu = proposal("resources.cpu", None, "250m", arithmetic=arithmetic)
    stack = _stack(spec, cpu)  # the spec sets no resources
    answered_by(monkeypatch, stack)
    result = CliRunner().invoke(main, ["cost", "recommend", "--window", "1m"])
    assert result.exit_code == 0, result.output
    assert "  resources.cpu: unset -> 250m" in result.output
    assert "  fraud.resources.cpu: unset -> 250m" in result.output  # it said None
    assert "None" not in result.output


def test_json_with_the_patched_spec_on_stdout_is_refused_before_anything_is_asked(
    inferd_home: Path,
) -> None:
    """``-o -`` prints the patched spec alone: with --json a script got YAML where it parses
    JSON, and no word that --json was dropped."""
    result = CliRunner().invoke(main, ["cost", "recommend", "-o", "-", "--json"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        "error: -o - prints the patched spec alone on stdout, so --json goes without it "
        "(-o FILE --json writes the spec and prints the JSON)"
    )


@pytest.mark.parametrize(("covered", "cautioned"), [(60.0, True), (3600.0, False)])
def test_advice_from_a_few_minutes_is_printed_with_a_caution(
    tmp_path: Path,
    inferd_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    covered: float,
    cautioned: bool,
) -> None:
    """A 5 s window proposed memory 512Mi → 160Mi and a lower max_replicas from a few requests,
    with nothing saying how little it had seen."""
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SCALED_SPEC, encoding="utf-8")
    stack = _stack(spec, _max_replicas(2))
    measured = stack.cost_recommendations

    def cost_recommendations(window: str) -> Recommendations:
        return {**measured(window), "covered_s": covered}

    monkeypatch.setattr(stack, "cost_recommendations", cost_recommendations)
    answered_by(monkeypatch, stack)
    result = CliRunner().invoke(main, ["cost", "recommend", "--window", "1h"])
    assert result.exit_code == 0, result.output
    caution = f"caution: only {covered:.0f} s measured"
    assert (caution in result.output) is cautioned
