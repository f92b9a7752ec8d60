"""The files of a model being pushed, and the optional ``inferd.model.yaml`` that describes them.

A pushed path is one regular file or a directory tree of regular files. Symlinks anywhere in it
are refused rather than followed (a link could pull in files from outside the model), and so are
devices, sockets and FIFOs. Each file becomes one layer titled by its POSIX path relative to the
pushed directory.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from inferd.card import ReferenceProfile, Signature, TensorSpec
from inferd.errors import InvalidArgument, NotFound
from inferd.store.safety import validate_title

METADATA_FILE = "inferd.model.yaml"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file to push: its layer title and where it is on disk."""

    title: str
    path: Path
    size: int


def _regular(path: Path, title: str) -> SourceFile:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise InvalidArgument(f"{title!r} is a symlink; push refuses symlinks")
    if not stat.S_ISREG(info.st_mode):
        raise InvalidArgument(f"{title!r} is not a regular file")
    return SourceFile(validate_title(title), path, info.st_size)


def collect(path: Path) -> list[SourceFile]:
    """The files under ``path`` (a file or a directory), sorted by title."""
    if not path.exists() and not path.is_symlink():
        raise NotFound(f"nothing to push at {path.name!r}")
    if path.is_symlink():
        raise InvalidArgument(f"{path.name!r} is a symlink; push refuses symlinks")
    if not path.is_dir():
        return [_regular(path, path.name)]
    files: list[SourceFile] = []
    for directory, subdirs, names in os.walk(path):
        base = Path(directory)
        for sub in subdirs:
            if (base / sub).is_symlink():
                title = (base / sub).relative_to(path).as_posix()
                raise InvalidArgument(f"{title!r} is a symlink; push refuses symlinks")
        files.extend(
            _regular(base / name, (base / name).relative_to(path).as_posix()) for name in names
        )
    if not files:
        raise InvalidArgument(f"directory {path.name!r} holds no files to push")
    return sorted(files, key=lambda f: f.title)


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
    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidArgument(f"{file.name}: not readable YAML ({type(exc).__name__})") from None
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise InvalidArgument(f"{file.name}: expected a mapping at the top level")
    try:
        return ModelMetadata.model_validate(loaded)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidArgument(f"{file.name}: {problems}") from None


def find_metadata(path: Path) -> Path | None:
    """``inferd.model.yaml`` inside a pushed directory, or beside a pushed file, if present."""
    candidate = (path if path.is_dir() else path.parent) / METADATA_FILE
    if candidate.is_symlink() or not candidate.is_file():
        return None
    return candidate
