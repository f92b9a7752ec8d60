"""The GPU dashboard, on NVIDIA DCGM exporter names.

inferd's model servers export the same names (``inferd.observe.gpu``), so the dashboard reads
either source. Every replica on a host reports every GPU of that host, so panels take the
largest reading per GPU (``UUID``) rather than adding replicas up. DCGM reports memory in MiB.
"""

from __future__ import annotations

from inferd.deploy.grafana.builder import Dashboard, Panel, Query, Row, Variable, headline
from inferd.deploy.grafana.promql import (
    GPU_FB_FREE,
    GPU_FB_TOTAL,
    GPU_FB_USED,
    GPU_POWER,
    GPU_UTIL,
    Series,
    select,
)

GPU = 'UUID=~"$gpu"'
PER_GPU = "gpu, UUID, modelName"
MIB = 1024 * 1024


def _per_gpu(series: Series) -> str:
    return f"max by ({PER_GPU}) ({select(series, GPU)})"


def _query(expr: str, legend: str = "GPU {{gpu}} {{modelName}}", *, instant: bool = False) -> Query:
    return Query(expr, legend, needs="gpu", instant=instant)


_NOW = Row(
    "GPUs",
    (
        headline("GPUs", "GPUs reporting.", f"count({_per_gpu(GPU_FB_TOTAL)})", needs="gpu"),
        headline(
            "Memory in use",
            "Framebuffer memory in use over all GPUs, as a share of their total.",
            f"sum({_per_gpu(GPU_FB_USED)}) / sum({_per_gpu(GPU_FB_TOTAL)})",
            unit="percentunit",
            thresholds=((0.8, "orange"), (0.95, "red")),
            needs="gpu",
        ),
        headline(
            "Mean utilisation",
            "Mean share of time the GPUs were busy.",
            f"avg({_per_gpu(GPU_UTIL)})",
            unit="percent",
            needs="gpu",
        ),
        headline(
            "Power draw",
            "Power drawn by all GPUs together.",
            f"sum({_per_gpu(GPU_POWER)})",
            unit="watt",
            needs="gpu",
        ),
    ),
)

_OVER_TIME = Row(
    "Over time",
    (
        Panel(
            "Utilisation by GPU",
            "Share of time each GPU was busy over its last sample.",
            (_query(_per_gpu(GPU_UTIL)),),
            unit="percent",
        ),
        Panel(
            "Memory used by GPU",
            "Framebuffer memory in use (the driver's reserved share excluded) and each GPU's "
            "total.",
            (
                _query(f"{_per_gpu(GPU_FB_USED)} * {MIB}", "GPU {{gpu}} used"),
                _query(f"{_per_gpu(GPU_FB_TOTAL)} * {MIB}", "GPU {{gpu}} total"),
            ),
            unit="bytes",
        ),
        Panel(
            "Memory used share by GPU",
            "Used framebuffer over used plus free: near 1, a new model or a larger batch will "
            "not fit.",
            (
                _query(
                    f"{_per_gpu(GPU_FB_USED)}\n"
                    f"  / ({_per_gpu(GPU_FB_USED)} + {_per_gpu(GPU_FB_FREE)})"
                ),
            ),
            unit="percentunit",
            thresholds=((0.9, "red"),),
        ),
        Panel(
            "Power by GPU",
            "Power draw of each GPU.",
            (_query(_per_gpu(GPU_POWER)),),
            unit="watt",
        ),
    ),
)

GPUS = Dashboard(
    uid="inferd-gpu",
    title="inferd / GPUs",
    description="GPU utilisation, memory and power, from DCGM-named series (NVIDIA's DCGM "
    "exporter or inferd's own model servers).",
    variables=(Variable("gpu", "GPU", str(GPU_FB_TOTAL), "UUID", needs="gpu"),),
    rows=(_NOW, _OVER_TIME),
    links=("inferd",),
)
