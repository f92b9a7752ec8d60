"""The ONNX runtime: onnxruntime, CPU by default, its CUDA provider when asked and present.
The session and its model are :mod:`inferd.runtimes.onnx_session`'s; a model with string inputs
also gets a worker process for big batches (:mod:`inferd.runtimes.onnx_worker`)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from inferd.card import ModelCard
from inferd.runtimes._files import model_file
from inferd.runtimes._onnx_external import check_external_data
from inferd.runtimes.base import LoadOptions, Model
from inferd.runtimes.onnx_session import OnnxModel, open_session
from inferd.runtimes.onnx_worker import offload_strings


class OnnxRuntime:
    """Loads ``card.entrypoint`` or the single ONNX file of the artifact into a session."""

    name: ClassVar[str] = "onnx"

    def load(self, path: Path, card: ModelCard, options: LoadOptions) -> Model:
        file = model_file(path, card.entrypoint, self.name)
        root = path if path.is_dir() else file.parent
        check_external_data(file, root)
        model = OnnxModel(open_session(file, options))
        return offload_strings(card.name, model, file, root, options)
