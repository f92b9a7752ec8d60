"""Proposals written into the user's spec file: values as written elsewhere stay as written,
sections are created where missing, and the result is a spec ``inferd apply`` accepts."""

from __future__ import annotations

import pytest
import yaml

from inferd.cost.patch import patch_text, patched
from inferd.cost.recommend import Proposal
from inferd.errors import InvalidArgument
from inferd.spec.loading import parse_spec

FILE = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway: {port: 0, drain_timeout: 1m30s}
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:v1", replicas: 8}
    autoscaling: {min_replicas: 1, max_replicas: 8, scale_down_window: 5m}
  - name: churn
    versions: [{name: v1, model: "churn:v1"}]
    resources: {cpu: 500m}
"""

PROPOSALS = [
    Proposal("fraud", "v1", "replicas", 8, 2, ""),
    Proposal("fraud", None, "autoscaling.max_replicas", 8, 3, ""),
    Proposal("fraud", None, "resources.cpu", None, "200m", ""),
    Proposal("churn", None, "resources.memory", None, "160Mi", ""),
    Proposal("churn", None, "batching.max_batch_size", 32, 64, ""),
]


def test_proposals_land_where_they_belong_and_the_rest_stays_as_written() -> None:
    out = patched(yaml.safe_load(FILE), PROPOSALS)
    fraud, churn = out["deployments"]
    assert fraud["versions"][0]["replicas"] == 2
    assert fraud["autoscaling"] == {"min_replicas": 1, "max_replicas": 3, "scale_down_window": "5m"}
    assert fraud["resources"] == {"cpu": "200m"}
    assert churn["resources"] == {"cpu": "500m", "memory": "160Mi"}
    assert churn["batching"] == {"max_batch_size": 64}
    assert out["gateway"]["drain_timeout"] == "1m30s"


def test_the_patched_text_is_a_valid_spec_headed_by_its_changes() -> None:
    text = patch_text(yaml.safe_load(FILE), PROPOSALS, "inferd.yaml")
    assert text.startswith("# inferd.yaml, right-sized by `inferd cost recommend`:\n")
    assert "#   fraud.v1.replicas: 8 -> 2\n" in text
    assert "#   fraud.resources.cpu: unset -> 200m\n" in text  # not Python's "None"
    spec = parse_spec(text, "patched.yaml")
    assert spec.deployments[0].versions[0].replicas == 2
    assert spec.deployments[1].resources.memory == "160Mi"
    assert spec.gateway.drain_timeout == 90


def test_the_original_document_is_left_alone() -> None:
    document = yaml.safe_load(FILE)
    patched(document, PROPOSALS)
    assert document == yaml.safe_load(FILE)


@pytest.mark.parametrize(
    ("document", "proposal", "message"),
    [
        (yaml.safe_load(FILE), Proposal("gone", None, "resources.cpu", None, "1", ""),
         "no deployment named 'gone'"),
        (yaml.safe_load(FILE), Proposal("fraud", "v9", "replicas", 1, 2, ""),
         "no version of 'fraud' named 'v9'"),
        (yaml.safe_load(FILE.replace("resources: {cpu: 500m}", "resources: 3")),
         Proposal("churn", None, "resources.cpu", None, "1", ""), "'resources' in the spec file"),
        (["not", "a", "spec"], PROPOSALS[0], "no 'deployments' list"),
    ],
    ids=["deployment", "version", "not-a-mapping", "not-a-spec"],
)  # fmt: skip
def test_a_file_that_is_not_the_running_spec_is_refused(
    document: object, proposal: Proposal, message: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        patched(document, [proposal])
    assert message in caught.value.message
