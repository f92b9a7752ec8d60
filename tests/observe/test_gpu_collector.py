"""The NVML GPU collector and ``inferd doctor`` on a machine without a GPU (this one): no NVML
means an empty collector and a clear report, never a crash. The metric families themselves are
checked from readings, with promtool (a GPU machine's run is recorded in docs/kubernetes.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry, generate_latest

from deploy.conftest import cli
from inferd.observe.gpu import SERIES, GpuCollector, GpuSample, Nvml, families

H200 = GpuSample(
    index=0,
    uuid="GPU-82053957-a28f-9589-5c79-4dd66b23b831",
    name="NVIDIA H200",
    memory_total_mib=143771.0,
    memory_used_mib=0.0,
    memory_free_mib=143155.9375,
    utilization_percent=0.0,
    power_watts=122.508,
)


def test_without_nvml_there_are_no_gpus_and_a_reason() -> None:
    nvml = Nvml()
    status = nvml.status()
    assert status.available is False
    assert "NVML" in status.reason or "nvidia-ml-py" in status.reason
    assert nvml.samples() == []


def test_the_collector_registers_and_exports_nothing_without_a_gpu() -> None:
    registry = CollectorRegistry(auto_describe=True)
    GpuCollector().register(registry)
    assert b"DCGM_FI" not in generate_latest(registry)


def test_readings_become_dcgm_exporter_series(tmp_path: Path) -> None:
    registry = CollectorRegistry(auto_describe=True)

    class Fixed:
        def collect(self) -> list[object]:
            return list(families([H200]))

    registry.register(Fixed())  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    labels = 'UUID="GPU-82053957-a28f-9589-5c79-4dd66b23b831",gpu="0",modelName="NVIDIA H200"'
    assert f"DCGM_FI_DEV_FB_TOTAL{{{labels}}} 143771.0" in text
    assert f"DCGM_FI_DEV_POWER_USAGE{{{labels}}} 122.508" in text
    exported = {line.split("{")[0] for line in text.splitlines() if "{" in line}
    assert set(SERIES) <= exported
    exposition = tmp_path / "metrics.txt"
    exposition.write_text(text, encoding="utf-8")
    with exposition.open("rb") as stdin:
        checked = subprocess.run(
            ["promtool", "check", "metrics"], stdin=stdin, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
    # The exposition parses; promtool's only remarks are its style lint on DCGM's camelCase
    # ``modelName`` label, which is the exporter's own name and the point of compatibility.
    remarks = checked.stderr.strip().splitlines()
    assert checked.returncode in (0, 3), checked.stderr
    assert all(r.endswith("label names should be written in 'snake_case' not 'camelCase'")
               for r in remarks), remarks  # fmt: skip


def test_a_gpu_without_power_readings_omits_only_that_series() -> None:
    sample = GpuSample(1, "GPU-x", "Tesla T4", 15360.0, 100.0, 15260.0, 12.0, None)
    by_name = {f.name: f for f in families([sample])}
    assert by_name["DCGM_FI_DEV_POWER_USAGE"].samples == []
    assert by_name["DCGM_FI_DEV_GPU_UTIL"].samples[0].value == 12.0


def test_doctor_reports_no_gpu_clearly() -> None:
    result = cli("doctor")
    assert result.exit_code == 0, result.output
    assert "NVML:" in result.stdout
    assert "CPUExecutionProvider" in result.stdout
    assert "device auto → cpu: no GPU found" in result.stdout


def test_doctor_json() -> None:
    report = orjson.loads(cli("doctor", "--json").stdout)
    assert report["nvml"]["available"] is False
    assert report["gpus"] == []
    assert report["device_auto"] == "cpu"
    assert "CPUExecutionProvider" in report["onnxruntime"]["providers"]
