"""``inferd.model.yaml``: what a model's author declares about it (``--signature FILE`` too).

Read when a model is packaged (:func:`inferd.packaging.push`); the store never reads it, it only
stores the file as one more layer.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from inferd.card import ReferenceProfile, Signature, TensorSpec
from inferd.errors import InvalidArgument
from inferd.settings_file import read_settings_file

METADATA_FILE = "inferd.model.yaml"


class ModelMetadata(BaseModel):
    """The shape of ``inferd.model.yaml`` (and of ``--signature FILE``); every key optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    runtime: str | None = None
    entrypoint: str | None = None
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    labels: dict[str, str] = {}
    metrics: dict[str, float] = {}
    #: A profile computed elsewhere (``inferd push --reference-data`` computes one instead).
    reference_profile: ReferenceProfile | None = None

    @property
    def signature(self) -> Signature | None:
        """The declared signature, or ``None`` when the file declares no tensors."""
        if not self.inputs and not self.outputs:
            return None
        return Signature(inputs=self.inputs, outputs=self.outputs)


def load_metadata(file: Path) -> ModelMetadata:
    """Read and validate a metadata file; errors name the file and each bad field."""
    # Unreadable, not UTF-8, not YAML (with its line and column) or not a mapping: named.
    loaded = read_settings_file(file, "metadata file")
    try:
        return ModelMetadata.model_validate(loaded)
    except ValidationError as exc:
        errors = exc.errors()
        # An item that fails is dropped before a tuple's min_length is checked, so pydantic also
        # calls each enclosing tuple too short ("not 0" of one given): only the item is wrong.
        inner = {err["loc"][:n] for err in errors for n in range(len(err["loc"]))}
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in errors
            if err["type"] != "too_short" or err["loc"] not in inner
        )
        raise InvalidArgument(f"{file.name}: {problems}") from None


def find_metadata(path: Path) -> Path | None:
    """``inferd.model.yaml`` inside a pushed directory, or beside a pushed file, if present."""
    candidate = (path if path.is_dir() else path.parent) / METADATA_FILE
    if candidate.is_symlink() or not candidate.is_file():
        return None
    return candidate
