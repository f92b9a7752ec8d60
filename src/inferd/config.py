"""Typed settings, read once in the composition root.

Each scope has one class. Values come, in increasing priority, from the defaults below, a YAML
config file, ``INFERD_*`` environment variables, and command-line flags. Settings are frozen:
once read, they do not change under a running server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from inferd.settings_file import ENV_PREFIX

DEFAULT_HOME = Path("~/.inferd")
DEFAULT_PORT = 8080
DEFAULT_GRPC_PORT = 8081
DEFAULT_CONTROL_PORT = 8082
#: Triton's default body cap; enforced on bytes actually read.
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_MAX_QUEUE_DELAY_MS = 2.0
DEFAULT_MAX_QUEUE_SIZE = 256
DEFAULT_REQUEST_TIMEOUT_S = 30.0
#: About 0.1 s of decoding (length prefixes are read one by one); far more strings than a batch.
DEFAULT_MAX_BYTES_ELEMENTS = 256 * 1024
#: Worst case (BYTES binary, 4 bytes an element) about 6 ms of decoding inline; a thread hop
#: costs about 0.1 ms, so small requests stay inline.
DEFAULT_INLINE_DECODE_BYTES = 64 * 1024
#: The most sequences a llama.cpp context decodes together (``LLAMA_MAX_SEQ``; a test checks).
LLAMA_CPP_MAX_SEQUENCES = 256
#: The longest context per sequence a server takes (``llm.max_model_len``, ``--max-model-len``).
MAX_MODEL_LEN = 10_485_760
#: ``llm.max_waiting_seqs`` bounds: one OpenAI request's n choices (MAX_CHOICES, 64) must fit.
WAITING_SEQS = (64, 65_536)


# The sandbox worker of trusted model code (SandboxSettings):
#: RLIMIT_AS: python, numpy and a model of a few GiB fit; a leak or a runaway allocation fails
#: with MemoryError instead of pushing the host into swap or the OOM killer.
DEFAULT_ADDRESS_SPACE_BYTES = 4 * 1024**3
#: RLIMIT_CPU per call (load, predict, close).
DEFAULT_CPU_SECONDS = 300
#: RLIMIT_NOFILE: python and numpy need a few dozen.
DEFAULT_OPEN_FILES = 256
#: Wall-clock limit per call, after which the worker is killed and restarted.
DEFAULT_CALL_TIMEOUT_S = 300.0


class StoreSettings(BaseModel):
    """Where the local store lives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path = Field(default=DEFAULT_HOME, description="root of the local store ($INFERD_HOME)")

    @property
    def root(self) -> Path:
        return self.home.expanduser()


class BatchingSettings(BaseModel):
    """Dynamic batching for one model (defaults apply to every model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_batch_size: int = Field(
        default=DEFAULT_MAX_BATCH_SIZE,
        ge=1,
        le=65536,
        description="rows in one batch; 1 disables batching",
    )
    max_queue_delay_ms: float = Field(
        default=DEFAULT_MAX_QUEUE_DELAY_MS,
        ge=0,
        description="longest a request waits for others to join",
    )
    max_queue_size: int = Field(
        default=DEFAULT_MAX_QUEUE_SIZE,
        ge=1,
        description="queued requests beyond this are shed with 503",
    )
    max_queue_wait_ms: float = Field(
        default=0.0,
        ge=0,
        description="longest a request may wait in the queue for its batch to start: one queued "
        "longer is refused with 503 + Retry-After and never runs, and one arriving behind a "
        "full batch of queued requests that would (by the recent batches' pace) is refused on "
        "arrival; 0: no limit (Triton's queue policy "
        "default_timeout_microseconds with timeout_action REJECT)",
    )


class LimitSettings(BaseModel):
    """Input limits checked before anything is allocated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
    max_tensor_rank: int = Field(default=8, ge=1)
    max_tensor_elements: int = Field(default=64 * 1024 * 1024, ge=1)
    max_bytes_elements: int = Field(
        default=DEFAULT_MAX_BYTES_ELEMENTS,
        ge=1,
        description="elements of one BYTES tensor: each is decoded one by one in Python, so this "
        "bounds the work a request buys (beyond it 413)",
    )
    inline_decode_bytes: int = Field(
        default=DEFAULT_INLINE_DECODE_BYTES,
        ge=0,
        description="inference bodies up to this size are decoded on the event loop; larger ones "
        "in a worker thread, so health checks and small requests never wait behind them",
    )
    process_decode_bytes: int = Field(
        default=256 * 1024,
        ge=0,
        description="JSON inference bodies (no binary tensor data) over this size are parsed in "
        "a decoding process of their own, whose GIL the event loop never waits for; 0: never",
    )
    process_string_elements: int | None = Field(
        default=16384,
        ge=0,
        description="ONNX batches of more string elements than this run in a worker process "
        "started with the model: onnxruntime converts strings holding the GIL (about 17 ms for "
        "262,144), which the event loop would wait for; null: always in the server's process (no "
        "worker)",
    )
    max_inputs: int = Field(default=64, ge=1)
    max_outputs: int = Field(default=64, ge=1)
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    header_timeout_s: float = Field(default=10.0, gt=0, description="slow-header cut-off")
    body_timeout_s: float = Field(default=30.0, gt=0)
    max_buffered_request_bytes: int = Field(
        default=4 * DEFAULT_MAX_BODY_BYTES,
        ge=1024,
        description="request body bytes held at once by all connections of a process "
        "(read and not yet answered); beyond it 503 + Retry-After. Default: 4 times max_body_bytes",
    )
    max_connections: int = Field(
        default=10_000,
        ge=1,
        description="open connections per HTTP listener; more are answered 503 and closed",
    )
    write_buffer_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="unsent response bytes per connection before it stops reading requests",
    )
    write_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="a client that leaves responses unread past write_buffer_bytes this long "
        "is disconnected",
    )

    @model_validator(mode="before")
    @classmethod
    def _budget_follows_the_body_cap(cls, data: Any) -> Any:
        """Unset, the read budget is four bodies at the cap: raising ``max_body_bytes`` (as
        ``--max-body-bytes`` does, which has no budget flag beside it) raises it too."""
        if isinstance(data, Mapping) and "max_buffered_request_bytes" not in data:
            try:
                body = int(data["max_body_bytes"])
            except (KeyError, TypeError, ValueError):
                return data  # unset, or not a number: its own validation says so
            return {**data, "max_buffered_request_bytes": 4 * body}
        return data

    @model_validator(mode="after")
    def _budget_fits_a_body(self) -> LimitSettings:
        if self.max_buffered_request_bytes < self.max_body_bytes:
            raise ValueError(
                f"max_buffered_request_bytes ({self.max_buffered_request_bytes}) is smaller than "
                f"max_body_bytes ({self.max_body_bytes}): a body at the cap could never be read"
            )
        return self


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
        "CAP_SYS_ADMIN), run trusted code with resource limits only; off: refuse to load it",
    )


class TracingSettings(BaseModel):
    """Traces exported over OTLP/HTTP (needs ``inferd[tracing]``); absent: tracing is off and
    costs nothing (no OpenTelemetry import, no per-request work)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str = Field(
        pattern=r"^https?://[^/\s?#]+(/[^\s]*)?$",
        description="the collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT: spans are POSTed "
        "to ENDPOINT/v1/traces (to ENDPOINT when it ends in /v1/traces)",
    )
    sample_rate: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="share of requests without a traceparent that start a sampled trace (a "
        "traceparent's own sampled flag is followed)",
    )
    service_name: str = Field(default="inferd", min_length=1, description="service.name")
    attributes: dict[str, str] = Field(
        default_factory=dict, description="resource attributes added to every span"
    )


class ModelSettings(BaseModel):
    """Settings of one model name (``models: {NAME: …}``); what is unset follows the server's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="longest a request to this model may take when it sets no deadline of its "
        "own; default: the server's request_timeout_s",
    )


class LlmSettings(BaseModel):
    """Language models served by the ``llamacpp`` runtime (docs/llm.md#continuous-batching)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_num_seqs: int = Field(
        default=8, ge=1, le=LLAMA_CPP_MAX_SEQUENCES, description="sequences decoded at once (slots)"
    )
    max_waiting_seqs: int = Field(
        default=WAITING_SEQS[0], ge=WAITING_SEQS[0], le=WAITING_SEQS[1],
        description="generations waiting for a slot before more are refused with 503",
    )  # fmt: skip
    max_model_len: int | None = Field(
        default=None, ge=16, le=MAX_MODEL_LEN,
        description="context per sequence, prompt plus generated tokens (default: the model's "
        "trained context, at most 4,096); over the trained context refuses the load",
    )  # fmt: skip


class AuthSettings(BaseModel):
    """API keys on the data plane (docs/security.md, "API keys")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keys_file: Path | None = Field(
        default=None,
        description="the keys file (inferd keys create --keys-file) whose keys the data plane "
        "requires; it must exist at start, and keys created or revoked take effect without a "
        "restart. Unset: inferd serve requires no key; inferd up's gateway requires keys from "
        "$INFERD_HOME/keys.json once that file exists",
    )
    public_metrics: bool = Field(
        default=False,
        description="serve /metrics (and the gateway's dashboard and /api/*) without a key; "
        "off: they need a key with the read scope",
    )


class TlsSettings(BaseModel):
    """TLS on the data plane's listeners, from PEM files that are reloaded when they change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cert_file: Path = Field(description="PEM certificate chain, the server's certificate first")
    key_file: Path = Field(description="PEM private key of that certificate (unencrypted)")


class ServerSettings(BaseModel):
    """The model server (`inferd serve`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    grpc_port: int | None = Field(
        default=DEFAULT_GRPC_PORT, ge=0, le=65535, description="gRPC port; None disables gRPC"
    )
    control_host: str = Field(default="127.0.0.1", description="control plane bind (loopback)")
    control_port: int | None = Field(
        default=DEFAULT_CONTROL_PORT,
        ge=0,
        le=65535,
        description="control plane port (loopback); None switches the control plane off",
    )
    control_grpc_port: int | None = Field(
        default=DEFAULT_CONTROL_PORT + 1,
        ge=0,
        le=65535,
        description="gRPC repository RPCs on control_host; None disables",
    )
    control_token: str | None = Field(default=None, description="generated at start when unset")
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    intra_op_threads: int = Field(default=1, ge=0)
    batching: BatchingSettings = BatchingSettings()
    limits: LimitSettings = LimitSettings()
    request_timeout_s: float = Field(
        default=DEFAULT_REQUEST_TIMEOUT_S,
        gt=0,
        description="longest a request may take when it sets no deadline of its own",
    )
    drain_timeout_s: float = Field(
        default=30.0, ge=0, description="after drain_delay_s, how long in-flight work may take"
    )
    drain_delay_s: float = Field(
        default=0.0,
        ge=0,
        description="after SIGTERM, seconds of serving as usual with readiness already 503, "
        "while load balancers stop sending; then the drain (0: drain at once)",
    )
    memory_budget_bytes: int | None = Field(
        default=None,
        ge=1,
        description="host memory for loaded models, as measured at load (an estimate); least "
        "recently used idle versions unload beyond it",
    )
    models: dict[str, ModelSettings] = Field(
        default_factory=dict, description="per-model settings, by model name"
    )
    store: StoreSettings = StoreSettings()
    allow_empty: bool = Field(
        default=False,
        description="keep serving when no reference loads at start, for later control-plane "
        "loads; otherwise the server exits with the reason",
    )
    trust_code: tuple[str, ...] = Field(
        default=(),
        description="references whose own code may run (NAME, NAME:TAG, NAME@DIGEST), in a "
        "sandbox worker; each trusted load is recorded in the store history",
    )
    sandbox: SandboxSettings = SandboxSettings()
    llm: LlmSettings = LlmSettings()
    tracing: TracingSettings | None = Field(
        default=None, description="OTLP trace export; None: off (--otlp-endpoint switches it on)"
    )
    auth: AuthSettings = AuthSettings()
    tls: TlsSettings | None = Field(
        default=None, description="TLS on the data plane (REST and gRPC); None: plain"
    )
    access_log: Literal["text", "json"] | None = Field(
        default=None, description="one line per request (inferd.access), text or json; None: off"
    )

    @field_validator("trust_code", mode="before")
    @classmethod
    def _references_in_a_string(cls, value: Any) -> Any:
        """``INFERD_TRUST_CODE=fraud,llm:v2`` (a variable holds a string, as
        ``INFERD_ALLOWED_REGISTRIES`` does): its comma-separated references."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    def request_timeout_for(self, model: str) -> float:
        """The deadline, in seconds, of a request to ``model`` that sets none of its own."""
        settings = self.models.get(model)
        timeout = settings.request_timeout_s if settings is not None else None
        return self.request_timeout_s if timeout is None else timeout

    def generation_timeout_for(self, model: str) -> float | None:
        """The deadline of a generation from ``model`` that sets none of its own: the model's
        ``request_timeout_s`` when set, else none (the server-wide default is sized for one
        inference; ``max_tokens``, the context and a client that leaves bound a generation)."""
        settings = self.models.get(model)
        return settings.request_timeout_s if settings is not None else None


def store_settings(environ: Mapping[str, str] | None = None) -> StoreSettings:
    env = os.environ if environ is None else environ
    home = env.get(f"{ENV_PREFIX}HOME")
    return StoreSettings(home=Path(home)) if home else StoreSettings()
