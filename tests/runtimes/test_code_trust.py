"""Code trust: which references a server trusts, the history record, and how up passes it on."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferd.card import ModelCard
from inferd.config import ServerSettings
from inferd.control.apply_plan import fingerprint
from inferd.control.replicas.launch import write_launch
from inferd.errors import InvalidArgument
from inferd.packaging import push
from inferd.runtimes import LoadOptions
from inferd.serving.artifact import LoadedArtifact, VersionKey
from inferd.serving.trust import CodeTrust, TrustPattern, history_recorder
from inferd.spec.model import DeploymentSpec
from inferd.store import ModelStore
from inferd.store.history import current_user

from .conftest import EXAMPLES

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


@pytest.mark.parametrize(
    ("pattern", "reference", "digest", "trusted"),
    [
        ("fraud-rules", "fraud-rules:v1", DIGEST, True),
        ("fraud-rules", "fraud-rules", DIGEST, True),
        ("fraud-rules", f"fraud-rules@{DIGEST}", DIGEST, True),
        ("fraud-rules", "fraud:v1", DIGEST, False),
        ("fraud-rules:v1", "fraud-rules:v1", DIGEST, True),
        ("fraud-rules:v1", "fraud-rules:v2", DIGEST, False),
        ("fraud-rules:v1", f"fraud-rules@{DIGEST}", DIGEST, False),
        ("fraud-rules:latest", "fraud-rules", DIGEST, True),
        (f"fraud-rules@{DIGEST}", "fraud-rules:v1", DIGEST, True),
        (f"fraud-rules@{DIGEST}", "fraud-rules:v1", OTHER, False),
        (f"fraud-rules:v1@{DIGEST}", f"fraud-rules:v1@{DIGEST}", DIGEST, True),
        (f"fraud-rules:v1@{DIGEST}", "fraud-rules:v2", DIGEST, False),
        ("fraud-rules", "ghcr.io/fraud-rules:v1", DIGEST, False),
        ("ghcr.io/fraud-rules", "ghcr.io/fraud-rules:v1", DIGEST, True),
    ],
)
def test_patterns(pattern: str, reference: str, digest: str, trusted: bool) -> None:
    assert TrustPattern.parse(pattern).matches(reference, digest) is trusted


@pytest.mark.parametrize("pattern", ["", "Fraud", "fraud:", "fraud@sha256:12", "../x"])
def test_a_bad_pattern_is_refused_naming_the_flag(pattern: str) -> None:
    with pytest.raises(InvalidArgument, match=f"--trust-code {pattern!r}"):
        TrustPattern.parse(pattern)


def artifact(reference: str, digest: str = DIGEST) -> LoadedArtifact:
    card = ModelCard(name="fraud-rules", runtime="python", entrypoint="model:FraudRules")
    return LoadedArtifact(VersionKey("fraud-rules", "v1"), reference, Path("/x"), digest, card, 1)


def test_a_trusted_load_is_recorded_first_and_an_untrusted_one_never() -> None:
    recorded: list[str] = []
    trust = CodeTrust.of(["fraud-rules:v1"], lambda a: recorded.append(a.reference))
    options = LoadOptions(intra_op_threads=3)
    assert trust.options(artifact("fraud-rules:v2"), options) is options
    assert recorded == []
    granted = trust.options(artifact("fraud-rules:v1"), options)
    assert granted.trust_code and granted.intra_op_threads == 3
    assert recorded == ["fraud-rules:v1"]
    assert not CodeTrust().trusts(artifact("fraud-rules:v1")), "nothing is trusted by default"


def test_the_history_records_digest_user_and_time(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    pushed = push(store, EXAMPLES / "python-model", "fraud-rules:v1")
    history_recorder(store)(artifact("fraud-rules:v1", pushed.digest))
    events = store.history("fraud-rules")
    assert [(e.action, e.tag) for e in events] == [("push", "v1"), ("trust", "v1")]
    trust = events[-1]
    assert (trust.old, trust.new, trust.user) == (None, pushed.digest, current_user())
    assert trust.time >= events[0].time


def test_up_passes_trust_to_replicas_on_the_pinned_digest(tmp_path: Path) -> None:
    deployment = DeploymentSpec.model_validate(
        {
            "name": "rules",
            "versions": [
                {"name": "v1", "model": "fraud-rules:v1", "trust_code": True},
                {"name": "v2", "model": "fraud-rules:v2"},
            ],
            "traffic": {"weights": {"v1": 100}},
        }
    )
    trusted, untrusted = deployment.versions
    pinned = f"fraud-rules:v1@{DIGEST}"
    launches = [
        write_launch(
            tmp_path,
            home=tmp_path,
            deployment=deployment,
            version=version,
            pinned=pinned,
            drain_timeout_s=1.0,
            fingerprint=fingerprint(deployment, version),
        )
        for version in (trusted, untrusted)
    ]
    command = launches[0].command(9000, 9001)
    assert command[command.index("--trust-code") + 1] == pinned
    assert "--trust-code" not in launches[1].command(9000, 9001)
    flipped = trusted.model_copy(update={"trust_code": False})
    assert fingerprint(deployment, flipped) != fingerprint(deployment, trusted)


def test_settings_carry_trust_and_sandbox_limits() -> None:
    settings = ServerSettings.model_validate(
        {"trust_code": ["fraud-rules:v1"], "sandbox": {"max_open_files": 64}}
    )
    assert settings.trust_code == ("fraud-rules:v1",)
    assert settings.sandbox.max_open_files == 64
    assert settings.sandbox.max_address_space_bytes == 4 * 1024**3
    assert not settings.sandbox.allow_unisolated
