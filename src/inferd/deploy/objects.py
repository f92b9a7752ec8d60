"""What every rendered object shares: names, labels, metadata, ports and model references.

A Kubernetes object is a plain ``dict`` here (what YAML and the schema validators take). Names
are derived, never invented: a version's Deployment and Service are ``{deployment}-{version}``,
so ``kubectl get deploy fraud-v2`` finds what the spec calls ``fraud``/``v2``.
"""

from __future__ import annotations

import re
from typing import Any

from inferd.deploy.k8s_options import K8sOptions
from inferd.errors import InvalidArgument
from inferd.reference import Reference, registry_prefix_problem
from inferd.spec.model import DeploymentSpec, Spec, VersionSpec

#: A Kubernetes object, or a part of one, as a JSON document. It stays an untyped ``dict`` on
#: purpose: its schema is Kubernetes' own (hundreds of kinds and CRDs, checked against the
#: published schemas in the tests), rendering only builds and writes it, and it leaves inferd
#: as YAML. Typed values (:class:`~inferd.spec.model.Spec`, ``K8sOptions``) come in.
Obj = dict[str, Any]

#: The server's data-plane ports inside the pod (REST with /metrics, and gRPC).
HTTP_PORT = 8080
GRPC_PORT = 8081
#: The pod's model store (an emptyDir) and the mount of an image-volume artifact.
STORE_PATH = "/var/lib/inferd"
ARTIFACT_PATH = "/var/lib/inferd-artifact"
#: The mount of an adapter's base artifact (image-volume), beside the adapter's.
ARTIFACT_PATH_BASE = "/var/lib/inferd-artifact-base"

LABEL_STACK = "app.kubernetes.io/instance"
LABEL_DEPLOYMENT = "inferd.dev/deployment"
LABEL_VERSION = "inferd.dev/version"
#: The version's model digest (pinned references only): what OpenCost and kubecost group by.
LABEL_MODEL_DIGEST = "inferd.dev/model-digest"
#: Hex digits of the digest in that label (a label value holds at most 63 characters); as many
#: as ``inferd ls`` shows.
DIGEST_LABEL_HEX = 12
COMPONENT = "model-server"
#: Names what the spec asks for that the target cannot express (``inferd k8s render`` prints it).
OMITTED_ANNOTATION = "inferd.dev/not-rendered"

#: Service names are DNS-1035 labels: they must start with a letter.
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def workload_name(deployment: DeploymentSpec, version: VersionSpec) -> str:
    """The Deployment and Service name of one version; refused if Kubernetes would refuse it."""
    name = f"{deployment.name}-{version.name}"
    if _DNS_1035.fullmatch(name) is None:
        raise InvalidArgument(
            f"deployment {deployment.name!r} version {version.name!r}: the Kubernetes name "
            f"{name!r} must be at most 63 characters and start with a letter (it names a "
            "Service); shorten or rename them"
        )
    return name


def selector_labels(spec: Spec, deployment: str, version: str | None = None) -> dict[str, str]:
    """Labels that pick the pods of a deployment (and of one version, if given)."""
    labels = {LABEL_STACK: spec.metadata.name, LABEL_DEPLOYMENT: deployment}
    if version is not None:
        labels[LABEL_VERSION] = version
    return labels


def labels(
    spec: Spec,
    deployment: str | None = None,
    version: str | None = None,
    *,
    model: str | None = None,
) -> dict[str, str]:
    """Every label of an object: the spec's own, then the well-known ones (which win).

    ``model`` is the reference the object's pods serve: when it pins a digest, the object
    carries it (shortened) in ``inferd.dev/model-digest``. Rendering never reads the store, so a
    reference by tag alone gets no digest label.
    """
    out = dict(sorted(spec.metadata.labels.items()))
    out.update(
        {
            "app.kubernetes.io/name": "inferd",
            "app.kubernetes.io/component": COMPONENT,
            "app.kubernetes.io/part-of": spec.metadata.name,
            "app.kubernetes.io/managed-by": "inferd",
            LABEL_STACK: spec.metadata.name,
        }
    )
    if deployment is not None:
        out[LABEL_DEPLOYMENT] = deployment
    if version is not None:
        out[LABEL_VERSION] = version
    digest = Reference.parse(model).digest if model is not None else None
    if digest is not None:
        out[LABEL_MODEL_DIGEST] = digest.removeprefix("sha256:")[:DIGEST_LABEL_HEX]
    return out


def metadata(name: str, options: K8sOptions, object_labels: dict[str, str]) -> Obj:
    """``metadata`` with the name, the namespace when one was asked for, and labels."""
    meta: Obj = {"name": name}
    if options.namespace is not None:
        meta["namespace"] = options.namespace
    meta["labels"] = object_labels
    return meta


def obj(api_version: str, kind: str, meta: Obj, spec: Obj | None = None, **rest: Any) -> Obj:
    """A Kubernetes object with its fields in the conventional order."""
    out: Obj = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    if spec is not None:
        out["spec"] = spec
    out.update(rest)
    return out


def note(o: Obj, *notes: str) -> Obj:
    """``o`` with ``notes`` added to its not-rendered annotation (``; `` between them)."""
    if notes:
        annotations = o["metadata"].setdefault("annotations", {})
        previous = annotations.get(OMITTED_ANNOTATION)
        annotations[OMITTED_ANNOTATION] = "; ".join([previous, *notes] if previous else notes)
    return o


def omissions(objects: list[Obj]) -> list[str]:
    """``kind/name: what`` for every object that carries the not-rendered annotation."""
    out = []
    for o in objects:
        note = o["metadata"].get("annotations", {}).get(OMITTED_ANNOTATION)
        if note:
            out.append(f"{o['kind']}/{o['metadata']['name']}: {note}")
    return out


def remote_reference(version: VersionSpec, options: K8sOptions) -> Reference:
    """The version's model as pods pull it: the spec's reference with the registry prefix.

    A cluster cannot read the local store, so a reference without a registry needs
    ``--registry``; the message says so instead of rendering pods that could never start.
    """
    ref = Reference.parse(version.model)
    if ref.registry is not None:
        return ref
    if options.registry is None:
        raise InvalidArgument(
            f"version {version.name!r} uses {version.model!r}, which names no registry; pods "
            "pull models from one: pass --registry HOST or HOST/PATH (or set 'registry' in "
            "the spec or the overlay)"
        )
    problem = registry_prefix_problem(options.registry)
    if problem is not None:
        raise InvalidArgument(problem)
    host, _, path = options.registry.strip("/").partition("/")
    name = f"{path}/{ref.name}" if path else ref.name
    return Reference.parse(str(Reference(name, ref.tag, ref.digest, host)))


def local_reference(version: VersionSpec, options: K8sOptions) -> str:
    """The local tag the pod's store holds the version under: ``{model name}:{version}``."""
    return f"{remote_reference(version, options).name}:{version.name}"
