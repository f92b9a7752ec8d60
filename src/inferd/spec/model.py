"""The spec (``inferd.yaml``): what runs, how it is split, rolled out, scaled and priced.

One document drives both the local embedded mode (``inferd up``) and, later, Kubernetes
(``inferd k8s render``), so the vocabulary is Kubernetes' and KServe/Flagger's: replicas,
resources as quantities, weights, mirror (shadow), canary steps and analysis. Every model forbids
unknown keys: a typo is an error, never silently ignored.

Cross-field rules (:mod:`inferd.spec.rules`) run in the models' after-validators and
report the exact location of each problem (``deployments[0].traffic.weights.v3``), so
:mod:`inferd.spec.loading` can point at the line and column in the file. Sections with a
module of their own: rollout, autoscaling and SLO (:mod:`inferd.spec.policies`), ``cost``,
``llm``, and logging and tracing (:mod:`inferd.spec.observability`).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, StrictBool, field_validator, model_validator
from pydantic.json_schema import JsonSchemaValue

from inferd.config import AuthSettings, BatchingSettings, TlsSettings
from inferd.errors import InvalidArgument, InvalidReference
from inferd.reference import Reference, registry_prefix_problem
from inferd.spec.cost import CostSpec
from inferd.spec.llm import LlmSpec
from inferd.spec.observability import LoggingSpec, TracingSpec
from inferd.spec.policies import AutoscalingSpec, RolloutSpec, SloSpec
from inferd.spec.rules import (
    Problem,
    deployment_problems,
    raise_problems,
    read_field,
    spec_problems,
)
from inferd.spec.types import (
    DnsLabel,
    Duration,
    HeaderName,
    KubernetesLabels,
    Memory,
    Quantity,
    StrictModel,
    strictly,
    whole_floats,
)

API_VERSION = "inferd.dev/v1"
KIND = "Stack"

#: A traffic weight: a whole percentage.
Percent = Annotated[int, Field(ge=0, le=100)]

#: A registry's ``host[:port]`` (an IPv6 address in brackets), as a remote reference names it.
REGISTRY_HOST_PATTERN = r"^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$"
#: The same with an optional repository path (``registry.example.com/ml``).
REGISTRY_PATTERN = (
    r"^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[a-z0-9]+([._/-][a-z0-9]+)*)?$"
)
RegistryHost = Annotated[str, Field(pattern=REGISTRY_HOST_PATTERN, max_length=261)]


class Metadata(StrictModel):
    """Names the whole stack (a label on everything the Kubernetes renderer writes)."""

    name: DnsLabel = Field(default="inferd", description="name of this stack")
    labels: KubernetesLabels = Field(default_factory=dict, description="copied onto every object")


class GatewayAuth(AuthSettings):
    """API keys on the gateway's REST and gRPC ports (docs/security.md, "API keys")."""

    # AuthSettings as the spec reads it: public_metrics a boolean ("false" or 1 is an error,
    # as the JSON Schema says); keys_file stays a path written as text.

    public_metrics: StrictBool = Field(
        default=False, description=AuthSettings.model_fields["public_metrics"].description
    )


class GatewaySpec(StrictModel):
    """The one entry port in front of every deployment."""

    host: str = Field(default="127.0.0.1", description="bind address (loopback by default)")
    port: int = Field(default=8080, ge=0, le=65535, description="0 picks a free port")
    grpc_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="gRPC (GRPCInferenceService) port; default: port + 1 (a free one when port "
        "is 0); 0 picks a free port",
    )
    request_timeout: Duration = Field(default=30.0, gt=0, description="longest a request may take")
    shadow_timeout: Duration = Field(
        default=2.0, gt=0, description="longest a mirrored request may take"
    )
    drain_timeout: Duration = Field(
        default=30.0, description="on stop, how long in-flight requests may take to finish"
    )
    tracing: TracingSpec | None = Field(
        default=None, description="export traces over OTLP (off by default; needs inferd[tracing])"
    )
    access_log: Literal["text", "json"] | None = Field(
        default=None,
        description="one line per request (REST and gRPC) from the gateway and every replica, "
        "to their logs under the logger inferd.access: text or json (one object a line); off "
        "by default",
    )
    auth: GatewayAuth = Field(
        default_factory=GatewayAuth,
        description="API keys on the gateway's REST and gRPC ports (health stays open); a "
        "relative keys_file is relative to the spec file's directory",
    )
    tls: TlsSettings | None = Field(
        default=None,
        description="TLS on the gateway's REST and gRPC ports from PEM files (relative to the "
        "spec file's directory), reloaded when they change; replicas stay plain HTTP on loopback",
    )

    @model_validator(mode="after")
    def _grpc_port(self) -> Self:
        ports = frozenset({"port", "grpc_port"})
        if self.grpc_port is None and self.port == 65535:
            reason = "port 65535 leaves no port + 1 for gRPC: set grpc_port"
            raise_problems("GatewaySpec", [Problem(("port",), reason, reads=ports)])
        if self.grpc_port and self.grpc_port == self.port:
            reason = f"grpc_port {self.grpc_port} is the REST port too"
            raise_problems("GatewaySpec", [Problem(("grpc_port",), reason, reads=ports)])
        return self

    def grpc_port_for(self, port: int) -> int:
        """The gRPC port when REST listens on ``port`` (the spec's, or ``inferd up --port``):
        ``grpc_port`` when set, else ``port + 1``, else a free one (0) when ``port`` is 0."""
        if self.grpc_port is not None:
            return self.grpc_port
        if port == 65535:
            raise InvalidArgument("REST port 65535 leaves no port + 1 for gRPC: set grpc_port")
        return port + 1 if port else 0


class VersionSpec(StrictModel):
    """One version of a deployment: a model from the store and how many replicas serve it."""

    name: DnsLabel = Field(description="version name, e.g. v1 or canary")
    model: str = Field(description="store reference, e.g. fraud:v2 or fraud@sha256:…")
    replicas: int = Field(default=1, ge=0, le=64, description="model-server processes")
    trust_code: bool = Field(
        default=False,
        description="let this version's own code run (python runtime) in an isolated worker; "
        "replicas serve it with --trust-code on its pinned digest, recorded in the store history",
    )
    adapter_of: DnsLabel | None = Field(
        default=None,
        description="a LoRA adapter applied to that version of the same deployment (an llm "
        "deployment); its card must pin that version's model as its base",
    )

    @field_validator("model")
    @classmethod
    def _reference(cls, value: str) -> str:
        try:
            Reference.parse(value)
        except InvalidReference as exc:
            raise ValueError(exc.message) from None
        return value

    @property
    def model_name(self) -> str:
        """The model name the replicas serve (the reference without registry, tag, digest)."""
        return Reference.parse(self.model).name


class RuntimeSpec(StrictModel):
    """Where and how the model runs inside each replica."""

    device: Literal["cpu", "cuda", "auto"] = Field(
        default="cpu", description="auto: CUDA when available, else CPU"
    )
    threads: int = Field(
        default=1, ge=0, le=256, description="intra-op threads; 0: the runtime's choice"
    )


class ResourcesSpec(StrictModel):
    """Per-replica resources (Kubernetes requests/limits; recorded, not enforced, locally)."""

    cpu: Quantity | None = Field(default=None, description="CPU, e.g. '500m' or '2'")
    memory: Memory | None = Field(default=None, description="memory, e.g. '512Mi'")
    gpu: int = Field(default=0, ge=0, le=16, description="GPUs per replica (nvidia.com/gpu)")
    gpu_memory: Memory | None = Field(default=None, description="GPU memory, e.g. '8Gi'")


class HeaderRoute(StrictModel):
    """A/B routing: requests whose ``header`` equals ``value`` go to ``version``."""

    header: HeaderName
    value: str = Field(max_length=1024)
    version: DnsLabel


class TrafficSpec(StrictModel):
    """How requests for a deployment are split among its versions."""

    weights: dict[str, Percent] = Field(
        default_factory=dict,
        description="percent of traffic per version; they add up to 100, unnamed versions get 0",
    )
    shadow: str | None = Field(
        default=None,
        description="version that receives a mirrored copy of traffic; its answers are compared "
        "with the primary's and never returned",
    )
    sticky_header: HeaderName | None = Field(
        default=None, description="requests with the same value of this header get the same version"
    )
    header_routes: list[HeaderRoute] = Field(default_factory=list, description="A/B routes")


class DeploymentSpec(StrictModel):
    """A model served under one name, in one or more versions."""

    name: DnsLabel = Field(description="the model name clients use: /v2/models/{name}/infer")
    versions: list[VersionSpec] = Field(min_length=1)
    runtime: RuntimeSpec = RuntimeSpec()
    batching: Annotated[BatchingSettings, strictly(BatchingSettings)] = BatchingSettings()
    request_timeout: Duration | None = Field(
        default=None,
        gt=0,
        description="longest a request to these replicas may take when it sets no deadline of "
        "its own (unset: the model server's default); at most gateway.request_timeout",
    )
    resources: ResourcesSpec = ResourcesSpec()
    llm: LlmSpec | None = Field(
        default=None, description="a language model: its engine, context, concurrency and shape"
    )
    traffic: TrafficSpec = TrafficSpec()
    rollout: RolloutSpec | None = None
    autoscaling: AutoscalingSpec | None = None
    slo: SloSpec | None = None
    logging: LoggingSpec | None = Field(
        default=None, description="payload logging: requests and responses kept in a sink"
    )

    def weights(self) -> dict[str, int]:
        """Percent per version; a lone version gets 100 when no weights are written."""
        if not self.traffic.weights and len(self.versions) == 1:
            return {self.versions[0].name: 100}
        return {v.name: self.traffic.weights.get(v.name, 0) for v in self.versions}

    def version(self, name: str) -> VersionSpec | None:
        return next((v for v in self.versions if v.name == name), None)

    @model_validator(mode="after")
    def _rules(self) -> Self:
        raise_problems("DeploymentSpec", deployment_problems(self))
        return self


class RegistriesSpec(StrictModel):
    """Registries ``inferd up`` may pull from besides those its first spec's models name.

    Read once, when ``inferd up`` starts (with ``INFERD_ALLOWED_REGISTRIES``); an apply that
    changes it is refused, so nothing sent to the admin API can widen what the server reaches.
    """

    allow: list[RegistryHost] = Field(
        default_factory=list,
        description="host or host:port entries (a host admits every port), e.g. ghcr.io",
    )


class Spec(StrictModel):
    """A whole ``inferd.yaml``: the gateway, the deployments behind it, and cost settings."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, title="inferd spec"
    )

    api_version: Literal["inferd.dev/v1"] = Field(alias="apiVersion")
    kind: Literal["Stack"]
    metadata: Metadata = Metadata()
    gateway: GatewaySpec = GatewaySpec()
    deployments: list[DeploymentSpec] = Field(min_length=1)
    cost: CostSpec | None = None
    registries: RegistriesSpec = RegistriesSpec()
    registry: str | None = Field(
        default=None,
        pattern=REGISTRY_PATTERN,
        max_length=512,
        description="registry (and path) the cluster pulls models that name none from, e.g. "
        "'registry.example.com/ml': inferd k8s render's default for --registry (inferd up "
        "serves such models from the local store)",
    )

    @field_validator("registry")
    @classmethod
    def _registry_host(cls, value: str | None) -> str | None:
        problem = None if value is None else registry_prefix_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    def deployment(self, name: str) -> DeploymentSpec | None:
        return next((d for d in self.deployments if d.name == name), None)

    @model_validator(mode="before")
    @classmethod
    def _json_numbers(cls, data: Any) -> Any:
        return whole_floats(data)

    @model_validator(mode="after")
    def _rules(self) -> Self:
        # One validator runs every spec-wide rule: pydantic stops at the first after-validator
        # that raises, which would hide the problems of the rules after it.
        raise_problems("Spec", spec_problems(partial(read_field, self)))
        return self


def json_schema() -> JsonSchemaValue:
    """The JSON Schema of the spec (what ``inferd spec schema`` prints): a JSON document,
    typed as pydantic types the schemas it generates."""
    schema = Spec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://inferd.dev/schemas/v1/inferd.schema.json"
    return schema
