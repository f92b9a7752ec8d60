"""What exists: model versions as OCI artifacts in a local OCI image layout.

Others use :class:`ModelStore` (stage and commit, resolve, materialize, pull, tag, untag, list,
history, gc), :class:`Reference` for the ``name[:tag][@sha256:digest]`` grammar (defined in the
kernel, :mod:`inferd.reference`), and the result types. A push goes through
:func:`inferd.packaging.push`, which describes the staged files before the store commits them.
"""

from inferd.reference import Reference
from inferd.store.history import HistoryEvent
from inferd.store.model_store import ModelStore
from inferd.store.results import GcResult, MaterializedModel, PushResult, ResolvedModel, TagEntry
from inferd.store.staging import Staged

__all__ = [
    "GcResult",
    "HistoryEvent",
    "MaterializedModel",
    "ModelStore",
    "PushResult",
    "Reference",
    "ResolvedModel",
    "Staged",
    "TagEntry",
]
