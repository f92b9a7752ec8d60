"""Value types of the spec: DNS-1123 names, Kubernetes quantities and durations.

Each is an ``Annotated`` type, so a field declares what it holds and pydantic both validates it
and describes it in the JSON Schema (editors then flag ``memory: 1GB`` while typing).
Quantities keep the user's text, since the Kubernetes renderer writes them through unchanged;
:func:`parse_quantity` gives their value. Durations become seconds.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema


class StrictModel(BaseModel):
    """A section of the spec: an unknown key is an error (a typo is never ignored), a value is
    of its field's type, as the JSON Schema says (``replicas: "2"`` or ``replicas: true`` is an
    error, never read as 2 or 1), a number is finite (``.inf``, ``.nan`` are errors), and a
    loaded spec is immutable (edits return a new one)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def strictly(model: type[BaseModel]) -> BeforeValidator:
    """Checks a mapping for ``model`` (settings the spec shares with ``inferd serve``, which
    reads them from environment strings, so the model itself converts) as the spec reads every
    value: of its field's type (``max_batch_size: "32"`` is an error, as the JSON Schema says).
    The problems are ``model``'s own, at their fields."""

    def check(value: Any) -> Any:
        if isinstance(value, dict):
            model.model_validate(value, strict=True)
        return value

    return BeforeValidator(check)


def whole_floats(value: Any) -> Any:
    """``value`` (a document's data) with each float that is a whole number (``2.0``) as an int.

    JSON, and so the JSON Schema editors check a spec against, counts 2.0 as the integer 2; a
    strict integer field would refuse it. A float field takes the int as it is.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_floats(v) for v in value]
    return value


#: A DNS-1123 label: what Kubernetes accepts as a Service or Deployment name.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_LABEL_MAX = 63

#: The Kubernetes quantity grammar (``resource.Quantity``): a number and an optional suffix.
QUANTITY_PATTERN = r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][-+]?[0-9]+)?$"
_QUANTITY_RE = re.compile(QUANTITY_PATTERN)
#: A quantity above zero, for the JSON Schema (a zero is refused by the loader too).
POSITIVE_QUANTITY_PATTERN = (
    r"^(?![+]?(0+(\.0*)?|\.0+)([KMGTPE]i|[numkMGTPE]|[eE][-+]?[0-9]+)?$)"
    + QUANTITY_PATTERN.removeprefix("^")
)
_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+$"
_DURATION_RE = re.compile(DURATION_PATTERN)
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

#: HTTP header field names (RFC 9110 tokens), compared lower-case by the gateway.
HEADER_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"


def parse_quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity (``500m`` → 0.5, ``1Gi`` → 1073741824)."""
    match = _QUANTITY_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. '500m', '2', '512Mi', '1G')")
    suffix = match.group(3) or ""
    number = text[: match.start(3)] if suffix else text
    if suffix[:1] in ("e", "E"):
        return Decimal(number + suffix)
    return Decimal(number.lstrip("+")) * _SUFFIXES[suffix]


def _positive_quantity(text: str) -> str:
    if parse_quantity(text) <= 0:
        raise ValueError(f"{text!r} must be greater than zero")
    return text


def _number_as_text(value: object) -> object:
    """YAML reads ``cpu: 2`` as a number; a quantity is text, so take it as ``"2"``."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def parse_duration(value: object) -> float:
    """``"1m30s"`` → 90.0 seconds. Only strings with units, so ``30`` is never ambiguous."""
    if not isinstance(value, str) or _DURATION_RE.fullmatch(value) is None:
        raise ValueError(
            f"{value!r} is not a duration: write a number with a unit, e.g. '250ms', '30s', '5m', "
            "'1h', '30d' (parts may be combined: '1m30s')"
        )
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))


def _dns_label(text: str) -> str:
    if len(text) > DNS_LABEL_MAX or re.fullmatch(DNS_LABEL_PATTERN, text) is None:
        raise ValueError(
            f"{text!r} is not a DNS-1123 label: up to 63 lower-case letters, digits or '-', "
            "starting and ending with a letter or digit (it becomes a Kubernetes name)"
        )
    return text


#: A name that becomes a Kubernetes object name (deployments, versions).
DnsLabel = Annotated[
    str,
    AfterValidator(_dns_label),
    WithJsonSchema({"type": "string", "pattern": DNS_LABEL_PATTERN, "maxLength": DNS_LABEL_MAX}),
]

#: A positive Kubernetes quantity, kept as written (``"500m"``, ``"2"``, ``"512Mi"``).
Quantity = Annotated[
    str,
    BeforeValidator(_number_as_text),
    AfterValidator(_positive_quantity),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": POSITIVE_QUANTITY_PATTERN},
                {"type": "number", "exclusiveMinimum": 0},
            ],
            "examples": ["500m", "2", "512Mi", "1Gi"],
        }
    ),
]

#: Less memory than any machine, replica or GPU has: a memory quantity below it lacks its unit.
LEAST_MEMORY_BYTES = 2**20


def _memory_with_unit(text: str) -> str:
    """``memory: 32`` is 32 bytes to Kubernetes; meant as GiB, it would request (or price)
    a replica's memory a billion times too small (or its node share too large)."""
    size = parse_quantity(text)
    if size < LEAST_MEMORY_BYTES:
        raise ValueError(
            f"{text!r} is {size:g} bytes (a quantity without a unit counts bytes); write the "
            "memory with its unit, e.g. '512Mi' or '32Gi'"
        )
    return text


#: A memory size: a :data:`Quantity` of at least 1 MiB (``"512Mi"``, ``"32Gi"``).
Memory = Annotated[
    Quantity,
    AfterValidator(_memory_with_unit),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": POSITIVE_QUANTITY_PATTERN},
                {"type": "number", "minimum": LEAST_MEMORY_BYTES},
            ],
            "examples": ["512Mi", "1Gi", "32Gi"],
        }
    ),
]

#: A span of time written with units (``"30s"``), held as seconds.
Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["30s", "5m"]}),
]

#: An HTTP header name.
HeaderName = Annotated[str, Field(pattern=HEADER_PATTERN, max_length=256)]


#: GPU products a price may name (``cost.gpu_hour``), by family as NVIDIA names them. A product
#: label (GPU feature discovery's ``NVIDIA-A100-SXM4-80GB``, NVML's ``NVIDIA H100 80GB HBM3``)
#: is priced by the family it contains (:func:`gpu_family`).
GPU_FAMILIES: tuple[str, ...] = (
    "A10", "A10G", "A16", "A30", "A40", "A100", "B100", "B200", "GB200", "GH200", "H20", "H100",
    "H200", "L4", "L40", "L40S", "P100", "T4", "V100",
)  # fmt: skip
_GPU_TOKEN = re.compile(r"[A-Za-z0-9]+")


def gpu_family(product: str) -> str | None:
    """The family a GPU product label names (``Tesla-T4`` → ``T4``), or None if unknown."""
    tokens = {t.upper() for t in _GPU_TOKEN.findall(product)}
    return next((f for f in GPU_FAMILIES if f in tokens), None)


def _known_gpu(name: str) -> str:
    if name not in GPU_FAMILIES:
        raise ValueError(
            f"{name!r} is not a GPU product inferd knows; name its family as NVIDIA writes it, "
            f"one of {', '.join(GPU_FAMILIES)}"
        )
    return name


#: A GPU family (``H100``, ``A10G``, ``L4``…): a key of ``cost.gpu_hour``.
GpuFamily = Annotated[
    str, AfterValidator(_known_gpu), WithJsonSchema({"type": "string", "enum": list(GPU_FAMILIES)})
]


#: A label's name (after any prefix) or value: what the Kubernetes API server takes.
_LABEL_PART = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
#: A label key's prefix: a DNS subdomain.
_SUBDOMAIN = re.compile(
    r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)


def _kubernetes_labels(labels: dict[str, str]) -> dict[str, str]:
    """Labels Kubernetes takes: a key is ``[prefix/]name``, the prefix a lower-case DNS
    subdomain, the name and the value (which may be empty) at most 63 letters, digits, '-',
    '_' and '.', starting and ending with a letter or digit."""
    problems = []
    for key, value in labels.items():
        prefix, slash, name = key.rpartition("/")
        if (slash and _SUBDOMAIN.fullmatch(prefix) is None) or _LABEL_PART.fullmatch(name) is None:
            problems.append(
                f"label key {key!r}: [PREFIX/]NAME, NAME at most 63 letters, digits, '-', '_' "
                "and '.' (starting and ending with a letter or digit), PREFIX a lower-case DNS "
                "subdomain"
            )
        if value and _LABEL_PART.fullmatch(value) is None:
            problems.append(
                f"label {key}: value {value!r}: at most 63 letters, digits, '-', '_' and '.', "
                "starting and ending with a letter or digit"
            )
    if problems:
        raise ValueError(f"{'; '.join(problems)} (every rendered object carries them)")
    return labels


#: Labels for Kubernetes objects (:func:`_kubernetes_labels`).
KubernetesLabels = Annotated[dict[str, str], AfterValidator(_kubernetes_labels)]
