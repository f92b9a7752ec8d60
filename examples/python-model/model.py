"""A user model for inferd's python runtime: a rule-based fraud score on 8 features.

inferd imports this file from inside the model artifact (entrypoint ``model:FraudRules`` in
inferd.model.yaml), creates ``FraudRules()``, calls ``load(path)`` with the artifact directory,
then ``predict`` on dicts of numpy arrays, a batch at a time. It runs only when the operator
explicitly trusts the model's code (``inferd serve --trust-code``), and then in a worker process
of its own, without network and with this directory read-only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class FraudRules:
    """score = sigmoid(features · weights + bias); label = score > threshold."""

    def __init__(self) -> None:
        self.weights = np.zeros(8, dtype=np.float32)
        self.bias = 0.0
        self.threshold = 0.5

    def load(self, path: Path) -> None:
        rules = json.loads((path / "rules.json").read_text())
        self.weights = np.asarray(rules["weights"], dtype=np.float32)
        self.bias = float(rules["bias"])
        self.threshold = float(rules["threshold"])

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        logits = inputs["input"].astype(np.float32) @ self.weights + self.bias
        score = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        return {"label": (score > self.threshold).astype(np.int64), "score": score}
