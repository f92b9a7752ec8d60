"""Pull credentials for a private registry: the Secret ``registry_secret`` names.

The Secret is of type ``kubernetes.io/dockerconfigjson`` (``kubectl create secret
docker-registry NAME --docker-server=HOST …``), whose ``.dockerconfigjson`` key is a Docker
``config.json``: the format ``inferd login`` writes and inferd's registry client reads from
``$DOCKER_CONFIG/config.json`` (:mod:`inferd.store.remote.credentials`). So the init containers
that fetch models get that key mounted read-only as ``config.json`` in
:data:`CREDENTIALS_PATH`, with ``DOCKER_CONFIG`` pointing there; the server and vLLM containers,
which reach no registry, never see it.

The kubelet pulls images itself, with the pod's ``imagePullSecrets``: the Secret is listed there
when the kubelet pulls from the models' registry, i.e. when a container image is on the same
host or the model arrives as an image volume. KServe delivers an ``oci://`` ``storageUri`` as an
image the kubelet pulls (its "modelcar"), so the predictor lists it too (equivalently, the
Secret could be attached to the predictor's ServiceAccount).
"""

from __future__ import annotations

from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.objects import Obj
from inferd.reference import split_registry
from inferd.store.remote.settings import DOCKER_CONFIG_ENV

#: Where the init containers see the Secret; ``DOCKER_CONFIG`` names it.
CREDENTIALS_PATH = "/var/run/secrets/inferd/registry"
VOLUME = "registry-credentials"
#: The key of a ``kubernetes.io/dockerconfigjson`` Secret, and the file the client reads.
SECRET_KEY = ".dockerconfigjson"  # noqa: S105 - a key name, not a secret
CONFIG_FILE = "config.json"
#: Readable by the pod's group (its fsGroup), by nobody else.
FILE_MODE = 0o440


def pull_secrets(options: K8sOptions) -> list[Obj]:
    """``imagePullSecrets`` entries: the Secret, when one is named."""
    return [] if options.registry_secret is None else [{"name": options.registry_secret}]


def add_credentials(pod: Obj, options: K8sOptions, model_hosts: set[str]) -> Obj:
    """``pod`` with the Secret mounted into its init containers (the ones that fetch models),
    and listed in ``imagePullSecrets`` when the kubelet pulls from one of ``model_hosts`` (the
    registries of the pod's models)."""
    if options.registry_secret is None:
        return pod
    for init in pod["initContainers"]:
        init["env"] = [*init.get("env", []), {"name": DOCKER_CONFIG_ENV, "value": CREDENTIALS_PATH}]
        init["volumeMounts"] = [
            *init.get("volumeMounts", []),
            {"name": VOLUME, "mountPath": CREDENTIALS_PATH, "readOnly": True},
        ]
    pod["volumes"] = [
        *pod["volumes"],
        {
            "name": VOLUME,
            "secret": {
                "secretName": options.registry_secret,
                "items": [{"key": SECRET_KEY, "path": CONFIG_FILE}],
                "defaultMode": FILE_MODE,
            },
        },
    ]
    images = [c["image"] for c in [*pod["initContainers"], *pod["containers"]]]
    images += [v["image"]["reference"] for v in pod["volumes"] if "image" in v]
    if any(split_registry(image)[0] in model_hosts for image in images):
        pod["imagePullSecrets"] = pull_secrets(options)
    return pod
