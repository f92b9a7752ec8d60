"""What exists: model versions as OCI artifacts in a local OCI image layout.

Others use :class:`ModelStore` (push, resolve, materialize, pull, tag, untag, list, history, gc),
:class:`Reference` for the ``name[:tag][@sha256:digest]`` grammar, and the result types.
"""

from inferd.reference import Reference
from inferd.store.files import METADATA_FILE, ModelMetadata, load_metadata
from inferd.store.history import HistoryEvent
from inferd.store.model_store import ModelStore
from inferd.store.results import GcResult, MaterializedModel, PushResult, ResolvedModel, TagEntry

__all__ = [
    "METADATA_FILE",
    "GcResult",
    "HistoryEvent",
    "MaterializedModel",
    "ModelMetadata",
    "ModelStore",
    "PushResult",
    "Reference",
    "ResolvedModel",
    "TagEntry",
    "load_metadata",
]
