"""The model server's own process on ``/metrics``: CPU time, resident memory, start time and file
descriptors under the names every Prometheus client library gives them (docs/api.md tells
operators to read ``process_cpu_seconds_total`` before adding workers)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from inferd.observe.metrics import ServerMetrics

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def _values(text: bytes) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


def test_the_server_exports_its_process() -> None:
    values = _values(ServerMetrics().render())
    assert values["process_cpu_seconds_total"] > 0
    assert values["process_resident_memory_bytes"] > 0
    assert values["process_start_time_seconds"] > 0
    assert values["process_open_fds"] >= 1
    assert values["process_max_fds"] >= values["process_open_fds"]


def test_process_series_are_documented() -> None:
    documented = DOCS.read_text(encoding="utf-8")
    names = [n for n in _values(ServerMetrics().render()) if n.startswith("process_")]
    assert names
    assert [n for n in names if f"`{n}`" not in documented] == []
