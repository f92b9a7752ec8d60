"""inferd.runtimes: how the files of a model version become something that predicts.

Public API (what packaging and the model manager call):

- :func:`get_runtime` / :func:`available_runtimes` — runtimes discovered by entry point;
- :func:`detect_model` → :class:`Detection` — runtime, entry point and signature of a model file
  or directory, recognised by content;
- :func:`warmup_inputs` — zero tensors shaped by a signature, for warm-up inferences;
- :class:`LoadOptions`, :class:`Model`, :class:`Runtime` — the seam itself (``base``).
"""

from inferd.datatypes import Tensors
from inferd.runtimes.base import LoadOptions, Model, Runtime
from inferd.runtimes.detect import Detection, detect_model
from inferd.runtimes.registry import available_runtimes, get_runtime
from inferd.runtimes.warmup import warmup_inputs

__all__ = [
    "Detection",
    "LoadOptions",
    "Model",
    "Runtime",
    "Tensors",
    "available_runtimes",
    "detect_model",
    "get_runtime",
    "warmup_inputs",
]
