"""The spec's observability sections: a deployment's payload logging, the gateway's tracing.

``deployments[].logging`` keeps what clients asked and models answered (KServe's payload
logger, Seldon's request logging): a sampled share of requests, their request and/or response
bodies up to a size cap, sent to one sink — a JSONL file rotated by size under
``$INFERD_HOME/payloads/``, or an HTTP endpoint receiving CloudEvents. ``gateway.tracing``
exports W3C-traced spans of the gateway and its replicas over OTLP. Both are acted on by
``inferd up`` (docs/gateway.md).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from inferd.spec.types import Duration, Quantity, StrictModel, parse_quantity

#: An http(s) URL with a host.
HTTP_URL_PATTERN = r"^https?://[^/\s?#]+(/[^\s]*)?$"


def _bytes(text: str) -> int:
    return int(parse_quantity(text))


def _whole_bytes(text: str, info: ValidationInfo) -> str:
    if _bytes(text) < 1:
        raise ValueError(f"{info.field_name} {text!r} is less than one byte")
    return text


#: A size of at least one byte, e.g. 10Mi (a quantity such as 500m is not).
ByteSize = Annotated[Quantity, AfterValidator(_whole_bytes)]


class FileSinkSpec(StrictModel):
    """Events as JSON lines (one structured-mode CloudEvent a line), rotated by size."""

    path: str = Field(
        min_length=1,
        max_length=255,
        description="file under $INFERD_HOME/payloads/, e.g. fraud.jsonl (relative, no '..')",
    )
    max_size: ByteSize = Field(
        default="100Mi", description="the file is rotated before it grows past this, e.g. 10Mi"
    )
    max_files: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="files kept, the one being written included (PATH, PATH.1 … PATH.N-1); "
        "the oldest is deleted at rotation",
    )

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        path = PurePosixPath(value)
        if path.is_absolute() or ".." in path.parts or "\\" in value or value.endswith("/"):
            raise ValueError(
                f"{value!r} must be a relative file path without '..' (it is written under "
                "$INFERD_HOME/payloads/)"
            )
        return value

    @property
    def max_bytes(self) -> int:
        return _bytes(self.max_size)


class HttpSinkSpec(StrictModel):
    """Events POSTed one by one to an HTTP endpoint, as CloudEvents (KServe's logger format)."""

    url: str = Field(
        pattern=HTTP_URL_PATTERN, max_length=2048, description="e.g. http://collector:8080/events"
    )
    encoding: Literal["binary", "structured"] = Field(
        default="binary",
        description="binary: attributes as ce- headers and the payload as the body (as KServe's "
        "logger sends); structured: the whole event as application/cloudevents+json",
    )
    timeout: Duration = Field(
        default=5.0, gt=0, description="longest one delivery may take before it counts as failed"
    )


class SinkSpec(StrictModel):
    """Where events go: exactly one of ``file`` and ``http``."""

    file: FileSinkSpec | None = None
    http: HttpSinkSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.file is None) == (self.http is None):
            raise ValueError("name exactly one sink: file or http")
        return self


class LoggingSpec(StrictModel):
    """Payload logging of one deployment's inference requests (docs/gateway.md)."""

    sample_rate: float = Field(
        default=1.0, ge=0, le=1, description="share of requests logged, e.g. 0.1"
    )
    keep: Literal["request", "response", "both"] = Field(
        default="both", description="which payloads of a logged request become events"
    )
    max_payload_size: ByteSize = Field(
        default="64Ki",
        description="a payload is cut to this size (its event marked truncated), e.g. 1Mi",
    )
    queue_size: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="events waiting for the sink; beyond it events are dropped (counted), never "
        "delaying a response",
    )
    sink: SinkSpec

    @property
    def max_payload_bytes(self) -> int:
        return _bytes(self.max_payload_size)


class TracingSpec(StrictModel):
    """Traces of the gateway and its replicas, exported over OTLP/HTTP (docs/gateway.md)."""

    endpoint: str = Field(
        pattern=HTTP_URL_PATTERN,
        max_length=2048,
        description="the OTLP/HTTP collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT: spans "
        "go to ENDPOINT/v1/traces, e.g. http://localhost:4318",
    )
    sample_rate: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="share of requests without a sampled traceparent that start a trace",
    )
