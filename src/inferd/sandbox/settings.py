"""How trusted model code is confined: :class:`SandboxSettings` (``ServerSettings.sandbox``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: RLIMIT_AS: python, numpy and a model of a few GiB fit; a leak or a runaway allocation fails
#: with MemoryError instead of pushing the host into swap or the OOM killer.
DEFAULT_ADDRESS_SPACE_BYTES = 4 * 1024**3
#: RLIMIT_CPU per call (load, predict, close).
DEFAULT_CPU_SECONDS = 300
#: RLIMIT_NOFILE: python and numpy need a few dozen.
DEFAULT_OPEN_FILES = 256
#: Wall-clock limit per call, after which the worker is killed and restarted.
DEFAULT_CALL_TIMEOUT_S = 300.0


class SandboxSettings(BaseModel):
    """Limits and isolation of the worker process that runs a trusted model's own code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_address_space_bytes: int | None = Field(
        default=DEFAULT_ADDRESS_SPACE_BYTES,
        ge=64 * 1024**2,
        description="RLIMIT_AS of the worker; beyond it allocations fail and the worker is "
        "restarted. None: unlimited (CUDA reserves far more address space than it uses)",
    )
    max_cpu_seconds: int | None = Field(
        default=DEFAULT_CPU_SECONDS,
        ge=1,
        description="RLIMIT_CPU for one call (load, predict, close); beyond it SIGXCPU ends the "
        "worker and it is restarted. None: unlimited",
    )
    max_open_files: int = Field(
        default=DEFAULT_OPEN_FILES, ge=16, description="RLIMIT_NOFILE of the worker"
    )
    call_timeout_s: float = Field(
        default=DEFAULT_CALL_TIMEOUT_S,
        gt=0,
        description="longest one call may take (wall clock); the worker is then killed",
    )
    allow_unisolated: bool = Field(
        default=False,
        description="where the platform refuses network and mount namespaces (no "
        "CAP_SYS_ADMIN), run trusted code anyway, with resource limits only; off: refuse to "
        "load it",
    )
