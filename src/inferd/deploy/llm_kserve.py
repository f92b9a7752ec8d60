"""A vLLM deployment on KServe: an InferenceService on KServe's Hugging Face serving runtime.

KServe's ``huggingface`` model format is served by its Hugging Face runtime
(``kserve-huggingfaceserver``), whose ``--backend=vllm`` runs the model on vLLM and answers
OpenAI's API under ``/openai/v1/…``. KServe's storage initializer delivers ``storageUri`` (the
version's ``oci://`` reference, as for inferd's runtime) to ``/mnt/models``, which the runtime
loads by default (``--model_dir``); the runtime names the model after the InferenceService
(``--model_name``). vLLM's engine arguments follow the runtime's own (KServe passes arguments
it does not know to vLLM): the spec's context, concurrency, dtypes and ``engine_args``, and the
tensor-parallel size from the GPU count.

What vLLM has no flag for (``request_timeout``) is named in the not-rendered annotation
(:func:`.vllm_serve.unrendered`), and ``trust_code`` is refused.

KServe merges the predictor's container into the runtime's key by key (a strategic merge
patch), and the Hugging Face runtime's container asks for and is limited to 1 CPU and 2Gi: the
predictor's CPU request also becomes its CPU limit (a request of 8 under the runtime's limit of
1 would make the pod invalid), and a spec without ``resources.cpu`` or ``resources.memory``
keeps the runtime's, which the not-rendered annotation says.

One ``storageUri`` is one model: adapter versions have no place on KServe's predictor, so they
are not rendered and are named in the not-rendered annotation, as are the other traffic
features KServe lacks (:func:`.kserve.omitted`).
"""

from __future__ import annotations

from inferd.deploy.canary import canary_of
from inferd.deploy.gpu import GpuPod
from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.kserve import omitted, predictor_scaling, revision_timeout
from inferd.deploy.objects import OMITTED_ANNOTATION, Obj, labels, metadata, obj, remote_reference
from inferd.deploy.pull_secret import pull_secrets
from inferd.deploy.vllm_serve import bases, llm_of, unrendered
from inferd.deploy.workloads import resources
from inferd.errors import InvalidArgument
from inferd.spec.model import DeploymentSpec, Spec

MODEL_FORMAT = "huggingface"
BACKEND = "vllm"


def runtime_args(deployment: DeploymentSpec, gpu: GpuPod) -> list[str]:
    """The Hugging Face runtime's ``--backend`` and vLLM's engine arguments."""
    llm = llm_of(deployment)
    args = [f"--backend={BACKEND}"]
    if llm.max_model_len is not None:
        args.append(f"--max-model-len={llm.max_model_len}")
    args += [
        f"--max-num-seqs={llm.max_num_seqs}",
        f"--dtype={llm.dtype}",
        f"--kv-cache-dtype={llm.kv_cache_dtype}",
        f"--tensor-parallel-size={gpu.gpus}",
    ]
    return [*args, *llm.engine_args]


def inference_service(
    deployment: DeploymentSpec, spec: Spec, options: K8sOptions, gpu: GpuPod
) -> Obj:
    """The InferenceService of one vLLM deployment (named after it), at ``options.stage``."""
    routed = deployment.model_copy(update={"versions": bases(deployment)})
    canary = canary_of(routed)
    version = canary.serving(options.stage)
    if version.trust_code:
        raise InvalidArgument(
            f"{deployment.name}/{version.name}: trust_code is not rendered for KServe's Hugging "
            "Face runtime (its storage initializer and runtime load the model's code under "
            "their own settings); render this spec with --target plain, whose vLLM pod runs "
            "with --trust-remote-code"
        )
    predictor = predictor_scaling(deployment, version)
    if version is canary.candidate:
        predictor["canaryTrafficPercent"] = canary.weight
    predictor["model"] = {
        "modelFormat": {"name": MODEL_FORMAT},
        "storageUri": f"oci://{remote_reference(version, options)}",
        "args": runtime_args(deployment, gpu),
        "resources": _resources(deployment, gpu),
    }
    predictor.update(gpu.pod_fields())
    predictor.update(revision_timeout(spec, None))  # vLLM has no request time limit
    if options.registry_secret is not None:  # the kubelet pulls the oci:// model (a modelcar)
        predictor["imagePullSecrets"] = pull_secrets(options)
    meta = metadata(
        deployment.name, options, labels(spec, deployment.name, version.name, model=version.model)
    )
    meta["annotations"] = {"inferd.dev/model": version.model, "inferd.dev/engine": "vllm"}
    dropped = omitted(deployment, canary, options.stage)
    dropped += [
        f"adapter version {v.name!r} (LoRA over {v.adapter_of}): a KServe predictor serves one "
        "storageUri; serve adapters with the plain target"
        for v in deployment.versions
        if v.adapter_of is not None
    ]
    dropped += unrendered(deployment)
    dropped += _runtime_defaults(deployment)
    if dropped:
        meta["annotations"][OMITTED_ANNOTATION] = "; ".join(dropped)
    return obj("serving.kserve.io/v1beta1", "InferenceService", meta, {"predictor": predictor})


def _resources(deployment: DeploymentSpec, gpu: GpuPod) -> Obj:
    """The model container's resources, with the CPU request as a limit too, so that the
    runtime's CPU limit (1) does not stay below it once KServe merges the two."""
    out = resources(deployment, gpu)
    cpu = deployment.resources.cpu
    if cpu is not None:
        out.setdefault("limits", {})["cpu"] = cpu
    return out


def _runtime_defaults(deployment: DeploymentSpec) -> list[str]:
    """The note that KServe's Hugging Face runtime's own resources apply where the spec sets
    none."""
    unset = [n for n in ("cpu", "memory") if getattr(deployment.resources, n) is None]
    if not unset:
        return []
    return [
        f"{' and '.join(f'resources.{n}' for n in unset)}: not set, so the "
        "kserve-huggingfaceserver runtime's own requests and limits (1 CPU and 2Gi in KServe's "
        "release) apply; vLLM needs more memory than that to load a model, so set them"
    ]
