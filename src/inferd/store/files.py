"""The files of a model being pushed.

A pushed path is one regular file or a directory tree of regular files. Symlinks anywhere in it
are refused rather than followed (a link could pull in files from outside the model), and so are
devices, sockets and FIFOs. Each file becomes one layer titled by its POSIX path relative to the
pushed directory. The pushed directory's own ``.git`` (a checkout's repository metadata, as in a
``git clone`` of a Hugging Face model) is left out with a warning, as ``huggingface_hub``'s
uploads leave it out: it is never a file of the model.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from inferd.errors import InvalidArgument, NotFound
from inferd.store.safety import validate_title

log = logging.getLogger(__name__)

#: A git checkout's repository metadata, left out when it is the pushed directory's own.
GIT_DIR = ".git"


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
        if base == path and GIT_DIR in subdirs and not (path / GIT_DIR).is_symlink():
            subdirs.remove(GIT_DIR)  # os.walk then skips it
            log.warning(
                "%r is a git repository's metadata, not part of the model: left out", GIT_DIR
            )
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
