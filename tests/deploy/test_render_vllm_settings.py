"""Every setting of a vLLM deployment reaches its pods or is named as not rendered: a spec
field that is parsed and then silently dropped would let a cluster run differently from what
the spec says (``request_timeout``, ``trust_code``); what no engine uses is refused by the spec
(``batching``, and ``runtime.threads`` for vLLM)."""

from __future__ import annotations

from typing import Any

import pytest

from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.objects import OMITTED_ANNOTATION
from inferd.deploy.render import render
from inferd.errors import InvalidArgument
from inferd.spec.loading import SpecError, parse_spec
from inferd.spec.model import Spec

from .conftest import validate

OPTIONS = K8sOptions(registry="r.example.com")


def _spec(versions: str, extra: str = "") -> Spec:
    return parse_spec(
        "apiVersion: inferd.dev/v1\nkind: Stack\ndeployments:\n"
        f"  - name: chat\n    versions: {versions}\n    resources: {{gpu: 1}}\n"
        f"    llm: {{engine: vllm}}\n{extra}"
    )


def _deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == "Deployment"]
    return found


def _args(objects: list[dict[str, Any]]) -> list[str]:
    (vllm,) = _deployment(objects)["spec"]["template"]["spec"]["containers"]
    args: list[str] = vllm["args"]
    return args


def test_trust_code_is_vllms_trust_remote_code() -> None:
    objects = render(_spec("[{name: v1, model: 'chat:v1', trust_code: true}]"), OPTIONS)
    assert "--trust-remote-code" in _args(objects)
    untrusted = render(_spec("[{name: v1, model: 'chat:v1'}]"), OPTIONS)
    assert "--trust-remote-code" not in _args(untrusted)
    for o in objects:
        validate(o)


def test_settings_vllm_has_no_flag_for_are_named_as_not_rendered() -> None:
    objects = render(_spec("[{name: v1, model: 'chat:v1'}]", "    request_timeout: 30s\n"), OPTIONS)
    note = _deployment(objects)["metadata"]["annotations"][OMITTED_ANNOTATION]
    assert "request_timeout (30 s)" in note
    for o in objects:
        validate(o)


def test_settings_no_engine_uses_are_refused_in_the_spec() -> None:
    """``batching`` does nothing for a language model (it batches continuously, on every
    engine), nor ``runtime.threads`` for vLLM: refused where they are written, for inferd up
    and every render alike (they were named as not rendered, and ignored by inferd up)."""
    with pytest.raises(SpecError) as caught:
        _spec("[{name: v1, model: 'chat:v1'}]", "    batching: {max_batch_size: 16}\n"
              "    runtime: {device: cuda, threads: 4}\n")  # fmt: skip
    messages = [p.message for p in caught.value.problems]
    assert any("batching (max_batch_size)" in m and "llm.max_num_seqs" in m for m in messages)
    assert any("no intra-op thread setting" in m for m in messages)


def test_settings_left_at_their_defaults_are_not_named() -> None:
    objects = render(_spec("[{name: v1, model: 'chat:v1'}]"), OPTIONS)
    note = _deployment(objects)["metadata"]["annotations"][OMITTED_ANNOTATION]
    assert note.startswith("sizeLimit of the models volume")  # no llm.shape: the only note
    assert "batching" not in note
    assert "runtime.threads" not in note


def test_an_adapters_trust_code_is_named_as_not_rendered() -> None:
    versions = (
        "[{name: base, model: 'chat:v1'}, "
        "{name: tuned, model: 'lora:v1', adapter_of: base, trust_code: true}]"
    )
    objects = render(_spec(versions, "    traffic: {weights: {base: 100}}\n"), OPTIONS)
    assert "--trust-remote-code" not in _args(objects)
    note = _deployment(objects)["metadata"]["annotations"][OMITTED_ANNOTATION]
    assert "trust_code of adapter version 'tuned'" in note


def test_kserve_names_the_settings_and_refuses_trust_code() -> None:
    kserve = OPTIONS.model_copy(update={"target": "kserve"})
    (isvc,) = render(_spec("[{name: v1, model: 'chat:v1'}]", "    request_timeout: 30s\n"), kserve)
    note = isvc["metadata"]["annotations"][OMITTED_ANNOTATION]
    assert "request_timeout (30 s)" in note
    validate(isvc)
    with pytest.raises(InvalidArgument, match="chat/v1: trust_code"):
        render(_spec("[{name: v1, model: 'chat:v1', trust_code: true}]"), kserve)


@pytest.mark.parametrize(
    ("gateway", "timeout"),
    [
        ("", None),
        ("gateway: {drain_timeout: 600s}\n", 610),
        ("gateway: {drain_timeout: 290s}\n", None),
    ],
)
def test_kserve_raises_knatives_timeout_to_cover_the_drain(
    gateway: str, timeout: int | None
) -> None:
    """Knative sets the pods' grace period to the revision timeout (300 s by default) and
    refuses terminationGracePeriodSeconds; a longer drain raises KServe's ``timeout``."""
    kserve = OPTIONS.model_copy(update={"target": "kserve"})
    spec = parse_spec(
        "apiVersion: inferd.dev/v1\nkind: Stack\n" + gateway + "deployments:\n"
        "  - name: chat\n    versions: [{name: v1, model: 'chat:v1'}]\n    resources: {gpu: 1}\n"
        "    llm: {engine: vllm}\n"
    )
    (isvc,) = render(spec, kserve)
    assert isvc["spec"]["predictor"].get("timeout") == timeout
    assert "terminationGracePeriodSeconds" not in isvc["spec"]["predictor"]
    validate(isvc)
