"""GPU metrics through NVML, named like NVIDIA's DCGM exporter.

Dashboards and alerts written for the DCGM exporter work unchanged on inferd's ``/metrics``:

================================  =====  ===========================================
series                            unit   what
================================  =====  ===========================================
``DCGM_FI_DEV_GPU_UTIL``          %      time the GPU was busy over the last sample
``DCGM_FI_DEV_FB_USED``           MiB    framebuffer (GPU memory) in use
``DCGM_FI_DEV_FB_FREE``           MiB    framebuffer free
``DCGM_FI_DEV_FB_TOTAL``          MiB    framebuffer in all
``DCGM_FI_DEV_POWER_USAGE``       W      power draw
================================  =====  ===========================================

Each series carries the exporter's identifying labels ``gpu`` (index), ``UUID`` and
``modelName``. NVML comes from ``nvidia-ml-py`` (the ``gpu`` extra) and the driver's
``libnvidia-ml``; without either there are simply no GPU series — a CPU host is a normal host,
never an error. NVML is initialised once, on first use, and queried at each scrape.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

_MIB = 2**20
LABELS = ("gpu", "UUID", "modelName")
#: name → (help, unit attribute of :class:`GpuSample`).
SERIES: dict[str, tuple[str, str]] = {
    "DCGM_FI_DEV_GPU_UTIL": ("GPU utilization (in %).", "utilization_percent"),
    "DCGM_FI_DEV_FB_USED": ("Framebuffer memory used (in MiB).", "memory_used_mib"),
    "DCGM_FI_DEV_FB_FREE": ("Framebuffer memory free (in MiB).", "memory_free_mib"),
    "DCGM_FI_DEV_FB_TOTAL": ("Framebuffer memory total (in MiB).", "memory_total_mib"),
    "DCGM_FI_DEV_POWER_USAGE": ("Power draw (in W).", "power_watts"),
}


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One GPU's readings at one moment (None where the GPU does not report a value)."""

    index: int
    uuid: str
    name: str
    memory_total_mib: float
    memory_used_mib: float
    memory_free_mib: float
    utilization_percent: float | None
    power_watts: float | None


@dataclass(frozen=True, slots=True)
class NvmlStatus:
    """Whether NVML answered here, and if not, why (for ``inferd doctor``)."""

    available: bool
    reason: str
    driver_version: str | None = None
    cuda_driver_version: str | None = None


class Nvml:
    """The NVML library, initialised once; every failure becomes "no GPUs" with a reason."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._module: ModuleType | None = None
        self._status: NvmlStatus | None = None

    def status(self) -> NvmlStatus:
        with self._lock:
            if self._status is None:
                self._status = self._init()
            return self._status

    def _init(self) -> NvmlStatus:
        try:
            module = importlib.import_module("pynvml")
        except ImportError:
            return NvmlStatus(False, "nvidia-ml-py is not installed (pip install 'inferd[gpu]')")
        try:
            module.nvmlInit()
        except module.NVMLError as exc:
            return NvmlStatus(False, f"NVML is not usable here: {_text(exc)}")
        self._module = module
        driver = _call(module, "nvmlSystemGetDriverVersion")
        cuda = _call(module, "nvmlSystemGetCudaDriverVersion_v2")
        cuda_text = f"{cuda // 1000}.{cuda % 1000 // 10}" if isinstance(cuda, int) else None
        return NvmlStatus(True, "NVML initialised", _str_or_none(driver), cuda_text)

    def samples(self) -> list[GpuSample]:
        """A reading of every GPU NVML sees (empty without NVML); a GPU that fails to answer
        is left out of this reading rather than failing the scrape."""
        if not self.status().available or self._module is None:
            return []
        nvml = self._module
        try:
            count = int(nvml.nvmlDeviceGetCount())
        except nvml.NVMLError:
            return []
        out = []
        for index in range(count):
            try:
                out.append(_sample(nvml, index))
            except nvml.NVMLError:
                continue
        return out


def _sample(nvml: Any, index: int) -> GpuSample:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    memory = _memory(nvml, handle)
    utilization = _call(nvml, "nvmlDeviceGetUtilizationRates", handle)
    power_mw = _call(nvml, "nvmlDeviceGetPowerUsage", handle)
    return GpuSample(
        index=index,
        uuid=_str(nvml.nvmlDeviceGetUUID(handle)),
        name=_str(nvml.nvmlDeviceGetName(handle)),
        memory_total_mib=memory.total / _MIB,
        memory_used_mib=memory.used / _MIB,
        memory_free_mib=memory.free / _MIB,
        utilization_percent=None if utilization is None else float(utilization.gpu),
        power_watts=None if power_mw is None else power_mw / 1000.0,
    )


def _memory(nvml: Any, handle: Any) -> Any:
    """Memory info without the driver's reserved share in ``used`` (what nvidia-smi and DCGM
    report); drivers older than the v2 query only have the v1 figures (used = total - free)."""
    version = getattr(nvml, "nvmlMemory_v2", None)
    if version is not None:
        try:
            return nvml.nvmlDeviceGetMemoryInfo(handle, version=version)
        except nvml.NVMLError:
            pass
    return nvml.nvmlDeviceGetMemoryInfo(handle)


def _call(nvml: Any, name: str, *args: Any) -> Any:
    """An optional NVML query: None when the GPU or driver does not support it."""
    try:
        return getattr(nvml, name)(*args)
    except (nvml.NVMLError, AttributeError):
        return None


def _str(value: str | bytes) -> str:
    # Older nvidia-ml-py releases return bytes.
    return value.decode() if isinstance(value, bytes) else value


def _str_or_none(value: str | bytes | None) -> str | None:
    return None if value is None else _str(value)


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def families(samples: list[GpuSample]) -> list[Metric]:
    """The DCGM-named metric families of ``samples`` (none for an empty list)."""
    if not samples:
        return []
    out: list[Metric] = []
    for name, (help_text, attribute) in SERIES.items():
        family = GaugeMetricFamily(name, help_text, labels=LABELS)
        for sample in samples:
            value = getattr(sample, attribute)
            if value is not None:
                family.add_metric([str(sample.index), sample.uuid, sample.name], value)
        out.append(family)
    return out


class GpuCollector(Collector):
    """A prometheus_client collector of the GPUs NVML sees; register it on a server's registry
    (``GpuCollector().register(registry)``). On a host without NVML it yields nothing."""

    def __init__(self, nvml: Nvml | None = None) -> None:
        self._nvml = Nvml() if nvml is None else nvml

    def register(self, registry: CollectorRegistry) -> GpuCollector:
        registry.register(self)
        return self

    def describe(self) -> Iterator[Metric]:
        # Nothing up front: the series exist only when a GPU does, which is known at scrape.
        return iter(())

    def collect(self) -> Iterator[Metric]:
        yield from families(self._nvml.samples())


@dataclass(frozen=True, slots=True)
class OnnxRuntimeInfo:
    version: str
    providers: list[str]


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """What ``inferd doctor`` prints: NVML's view, onnxruntime's providers, and the device
    ``auto`` resolves to here, with the reason (``dataclasses.asdict`` gives its JSON)."""

    nvml: NvmlStatus
    gpus: list[GpuSample]
    onnxruntime: OnnxRuntimeInfo
    device_auto: str
    reason: str


def device_report(nvml: Nvml | None = None) -> DeviceReport:
    """This host's :class:`DeviceReport`."""
    # onnxruntime only here: the collector itself must import on a host without it.
    import onnxruntime

    nvml = Nvml() if nvml is None else nvml
    status = nvml.status()
    samples = nvml.samples()
    providers = list(onnxruntime.get_available_providers())
    has_cuda = "CUDAExecutionProvider" in providers
    if has_cuda and samples:
        device, reason = "cuda", f"{len(samples)} GPU(s) and onnxruntime's CUDA provider"
    elif samples:
        device, reason = (
            "cpu",
            (
                "GPUs are present but this onnxruntime has no CUDAExecutionProvider "
                "(install onnxruntime-gpu, or use the -gpu image)"
            ),
        )
    elif has_cuda:
        device, reason = "cuda", "onnxruntime has the CUDA provider (NVML sees no GPU)"
    else:
        device, reason = "cpu", "no GPU found; models run on the CPU"
    return DeviceReport(
        status, samples, OnnxRuntimeInfo(onnxruntime.__version__, providers), device, reason
    )
