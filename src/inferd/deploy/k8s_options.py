"""What rendering for Kubernetes needs beyond the spec: the overlay file and its flags.

The spec (``inferd.yaml``) says what runs and with which resources; it is shared with the local
mode, so it holds nothing that only a cluster understands. Everything Kubernetes-only — the
container image, the registry models are pulled from and the Secret with its credentials, how
model files reach the pod, which GPU product or MIG slice a deployment lands on, time-slicing,
the runtime class — lives here, in an
optional overlay file (``inferd k8s render --overlay inferd.k8s.yaml``) whose top level gives
defaults and whose ``deployments`` map adjusts them per deployment::

    image: registry.example.com/inferd:0.1.0
    registry: registry.example.com/ml
    deployments:
      fraud:
        gpu_product: NVIDIA-A100-SXM4-80GB
        mig_profile: 1g.10gb

Command-line flags override the overlay's top level (see :func:`load_options`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypedDict
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from inferd import __version__
from inferd.errors import InvalidArgument
from inferd.reference import ImageReference
from inferd.settings_file import read_settings_file, unknown_key, yaml_position

if TYPE_CHECKING:
    from inferd.spec.model import DeploymentSpec, Spec

#: The server image when none is given; the GPU variant carries the ``-gpu`` tag suffix.
DEFAULT_IMAGE = f"inferd/inferd:{__version__}"
GPU_TAG_SUFFIX = "-gpu"
#: Prometheus as the kube-prometheus stack installs it (what KEDA queries).
DEFAULT_PROMETHEUS_URL = "http://prometheus-operated.monitoring.svc:9090"
#: Where the NVIDIA GPU operator runs (its device-plugin ConfigMap must live there).
DEFAULT_GPU_OPERATOR_NAMESPACE = "gpu-operator"

#: Which step of a canary a render is (see :mod:`inferd.deploy.canary`).
Stage = Literal["stable", "canary"]

#: A MIG profile as the GPU operator names it in resources: ``1g.10gb``, ``3g.40gb``, ``7g.80gb``.
MIG_PROFILE_PATTERN = r"^([1-7])g\.([0-9]+)gb$"
#: A GPU feature-discovery label value (``nvidia.com/gpu.product``), e.g. ``Tesla-T4``.
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
#: An object name: an RFC 1123 subdomain, dot-separated labels of lower-case letters, digits
#: and '-' (each starting and ending with a letter or digit), at most 253 characters in all.
_DNS_SUBDOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
#: A namespace name: an RFC 1123 label (no '.', unlike other object names), at most 63 characters.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    """A validator refusing text that ``pattern`` does not match whole, as not ``what``."""

    def check(text: str) -> str:
        if pattern.fullmatch(text) is None:
            raise ValueError(f"{text!r} is not {what}")
        return text

    return check


_label_value = _matching(
    _LABEL_VALUE,
    "a Kubernetes label value (as GPU feature discovery writes products, e.g. 'Tesla-T4' or "
    "'NVIDIA-A100-SXM4-80GB')",
)
_dns_subdomain = _matching(_DNS_SUBDOMAIN, "a Kubernetes object name (lower-case DNS subdomain)")
_dns_label = _matching(
    _DNS_LABEL,
    "a Kubernetes namespace name (a DNS label: at most 63 lower-case letters, digits and '-', "
    "starting and ending with a letter or digit, no '.')",
)


def _http_url(text: str, shown: str | None = None, example: str = DEFAULT_PROMETHEUS_URL) -> str:
    """``text`` if it is an http(s) URL with a host; else a ValueError naming ``shown`` (what
    the user wrote, when ``text`` was made from it) with ``example``."""
    problem = f"{shown or text!r} is not an http:// or https:// URL with a host, e.g. {example!r}"
    if not text.isascii() or not text.isprintable() or " " in text:
        raise ValueError(problem)
    try:
        parts = urlsplit(text)
        port = parts.port  # a ValueError when it is not a number of 0-65535
    except ValueError:
        raise ValueError(problem) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise ValueError(problem)
    return text


def _runbook_url(text: str) -> str:
    """A URL pattern with ``{alert}`` or ``{anchor}`` (and no other ``{…}``) that, filled in,
    is an http(s) URL."""
    example = "e.g. 'https://wiki.example.com/inferd-runbooks#{anchor}'"
    if "{alert}" not in text and "{anchor}" not in text:
        raise ValueError(f"{text!r} names no alert: put {{alert}} or {{anchor}} in it, {example}")
    try:
        filled = runbook_link(text, "InferdNoReadyReplicas")
    except (KeyError, IndexError, ValueError):
        raise ValueError(
            f"{text!r} has a placeholder other than {{alert}} and {{anchor}}, {example}"
        ) from None
    _http_url(filled, shown=text, example="https://wiki.example.com/inferd-runbooks#{anchor}")
    return text


def runbook_link(pattern: str, alert: str) -> str:
    """``pattern`` with ``{alert}`` the alert's name and ``{anchor}`` its lower-case form."""
    return pattern.format(alert=alert, anchor=alert.lower())


LabelValue = Annotated[str, AfterValidator(_label_value)]
ObjectName = Annotated[str, AfterValidator(_dns_subdomain)]
NamespaceName = Annotated[str, AfterValidator(_dns_label)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Placement(_Strict):
    """Where one deployment's pods run on a cluster with NVIDIA GPUs (all optional)."""

    gpu_product: LabelValue | None = Field(
        default=None, description="nvidia.com/gpu.product to require, e.g. 'Tesla-T4'"
    )
    mig_profile: str | None = Field(
        default=None,
        pattern=MIG_PROFILE_PATTERN,
        description="MIG slice per GPU asked for (mixed strategy), e.g. '1g.10gb'",
    )
    time_slicing: int | None = Field(
        default=None, ge=2, le=64, description="replicas sharing one GPU by time-slicing"
    )
    runtime_class: ObjectName | None = Field(
        default=None, description="runtimeClassName of the pods, e.g. 'nvidia'"
    )


def merge(base: Placement, top: Placement) -> Placement:
    """``top``'s fields that were written, over ``base``."""
    return base.model_copy(update={k: getattr(top, k) for k in top.model_fields_set})


class K8sOptions(_Strict):
    """Every Kubernetes-only choice of ``inferd k8s render`` (defaults render a working base)."""

    target: Literal["plain", "kserve"] = Field(
        default="plain", description="plain Deployments, or KServe InferenceServices"
    )
    namespace: NamespaceName | None = Field(
        default=None, description="namespace written on every object (none: kubectl's current)"
    )
    image: ImageReference = Field(default=DEFAULT_IMAGE, description="server image (CPU)")
    gpu_image: ImageReference | None = Field(
        default=None, description=f"image for GPU pods (default: image with '{GPU_TAG_SUFFIX}')"
    )
    registry: str | None = Field(
        default=None,
        description="registry (and path) prefixed to spec models that name none, "
        "e.g. 'registry.example.com/ml'",
    )
    model_delivery: Literal["init", "image-volume"] = Field(
        default="init",
        description="init: an init container pulls the model into an emptyDir; image-volume: "
        "the kubelet mounts the model's OCI artifact (Kubernetes >= 1.31, ImageVolume)",
    )
    registry_secret: ObjectName | None = Field(
        default=None,
        description="Secret of type kubernetes.io/dockerconfigjson with pull credentials for "
        "the registry: the init containers fetching models read it as their Docker config, and "
        "pods (KServe predictors) pull images from that registry with it",
    )
    autoscaler: Literal["keda", "hpa"] = Field(
        default="keda", description="KEDA ScaledObject, or an HPA on custom metrics"
    )
    progressive: Literal["argo"] | None = Field(
        default=None,
        description="plain target: hand a deployment's canary rollout policy to Argo Rollouts "
        "(a Rollout, its canary Service and an AnalysisTemplate) instead of inferd up",
    )
    stage: Stage = Field(
        default="canary",
        description="a deployment with a candidate version (kserve target, or --progressive): "
        "'stable' renders its main version alone, to apply first; 'canary' rolls the candidate "
        "out over it",
    )
    prometheus_url: HttpUrl = Field(
        default=DEFAULT_PROMETHEUS_URL, description="Prometheus that KEDA queries"
    )
    gateway: ObjectName = Field(default="inferd", description="Gateway the HTTPRoutes attach to")
    gateway_namespace: NamespaceName | None = Field(
        default=None, description="namespace of that Gateway (none: the routes' own)"
    )
    gpu_operator_namespace: NamespaceName = Field(default=DEFAULT_GPU_OPERATOR_NAMESPACE)
    runbook_url: Annotated[str, AfterValidator(_runbook_url)] | None = Field(
        default=None,
        description="every alert's runbook_url annotation: a URL with {alert} (the alert's "
        "name) or {anchor} (it in lower case), e.g. "
        "'https://wiki.example.com/inferd-runbooks#{anchor}' (docs/alerts.md#runbooks)",
    )
    placement: Placement = Field(default_factory=Placement, description="for every deployment")
    deployments: dict[str, Placement] = Field(
        default_factory=dict, description="placement per deployment name, over 'placement'"
    )

    def placement_of(self, deployment: DeploymentSpec) -> Placement:
        """The placement of ``deployment``: its own entry over the shared one, which places
        GPU deployments only (a GPU-less deployment has its own entry, if any)."""
        own = self.deployments.get(deployment.name)
        shared = self.placement if deployment.resources.gpu > 0 else Placement()
        return shared if own is None else merge(shared, own)

    def check_placements(self, spec: Spec) -> None:
        """Refuse placements that would place nothing: of deployments ``spec`` does not have (a
        misspelt name), or a shared placement when no deployment has a GPU."""
        unknown = sorted(set(self.deployments) - {d.name for d in spec.deployments})
        if unknown:
            raise InvalidArgument(
                f"the overlay places deployments the spec does not have: {', '.join(unknown)}"
            )
        if self.placement.model_fields_set and not any(d.resources.gpu for d in spec.deployments):
            fields = ", ".join(sorted(self.placement.model_fields_set))
            raise InvalidArgument(
                f"GPU placement options are set ({fields}) but no deployment has resources.gpu"
            )

    def image_for(self, gpus: int) -> str:
        """The server image for a pod with ``gpus`` GPUs."""
        if gpus == 0:
            return self.image
        if self.gpu_image is not None:
            return self.gpu_image
        return gpu_variant(self.image)


def gpu_variant(image: str) -> str:
    """``repo:1.0`` → ``repo:1.0-gpu``. An image pinned by digest has no such variant (the
    digest names the CPU image's bytes, whose onnxruntime has no CUDA), so it is refused."""
    if "@" in image:
        raise InvalidArgument(
            f"image {image!r} is pinned by digest, so GPU pods cannot take its "
            f"'{GPU_TAG_SUFFIX}' variant: name their image with --gpu-image (gpu_image in the "
            "overlay)"
        )
    last = image.rsplit("/", 1)[-1]
    return f"{image}{GPU_TAG_SUFFIX}" if ":" in last else f"{image}:latest{GPU_TAG_SUFFIX}"


class RenderFlags(TypedDict, total=False):
    """The flags of ``inferd k8s render``, named as :class:`K8sOptions` and :class:`Placement`
    name them; ``None`` (or absent) means "not given"."""

    target: Literal["plain", "kserve"] | None
    namespace: str | None
    image: str | None
    gpu_image: str | None
    registry: str | None
    model_delivery: Literal["init", "image-volume"] | None
    registry_secret: str | None
    autoscaler: Literal["keda", "hpa"] | None
    progressive: Literal["argo"] | None
    stage: Stage | None
    prometheus_url: str | None
    gateway: str | None
    gateway_namespace: str | None
    gpu_product: str | None
    mig_profile: str | None
    time_slicing: int | None
    runtime_class: str | None


def load_options(path: Path | None, flags: RenderFlags) -> K8sOptions:
    """The overlay at ``path`` (if any) with the flags that were given on top.

    Placement flags (``gpu_product``…) apply to every deployment, over the overlay's shared
    placement.
    """
    document: dict[str, Any] = {}
    if path is not None:
        document = read_settings_file(path, "overlay")
    given = {k: v for k, v in flags.items() if v is not None}
    placement_keys = set(Placement.model_fields)
    top = {k: v for k, v in given.items() if k not in placement_keys}
    shared = {k: v for k, v in given.items() if k in placement_keys}
    if shared:
        document["placement"] = {**(document.get("placement") or {}), **shared}
    document.update(top)
    try:
        return K8sOptions.model_validate(document)
    except ValidationError as exc:
        # A flag's value is named as the flag, never as the overlay's (which may say otherwise).
        flagged = {(k,): k for k in top} | {("placement", k): k for k in shared}
        problems = []
        for err in exc.errors(include_url=False):
            loc = tuple(str(p) for p in err["loc"])
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = unknown_key(K8sOptions, loc)
            flag = next((f for at, f in flagged.items() if loc[: len(at)] == at), None)
            if flag is not None:
                problems.append(f"--{flag.replace('_', '-')}: {message}")
            else:
                where = "options" if path is None else f"{path}:{yaml_position(path, loc)}"
                problems.append(f"{where}: {'.'.join(loc) or '(top)'}: {message}")
        raise InvalidArgument("; ".join(problems)) from None
