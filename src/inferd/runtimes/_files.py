"""Finding the model file inside an artifact directory, safely.

Shared by detection (at push) and by the file-based runtimes (at load). Error messages name files
relative to the artifact, never by their absolute path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from inferd.errors import InvalidArgument, NotFound
from inferd.runtimes._formats import FORMATS, format_problem, sniff


def files_under(root: Path) -> list[Path]:
    """Regular files below ``root`` (symlinks neither listed nor followed), in sorted order."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        found.extend(p for name in sorted(filenames) if not (p := Path(dirpath, name)).is_symlink())
    return found


def relative_name(path: Path, root: Path) -> str:
    """``path`` as a POSIX path relative to ``root`` (what the artifact calls the file)."""
    return path.relative_to(root).as_posix()


def join_no_symlink(base: Path, relative: PurePosixPath) -> Path | None:
    """``base / relative``, or None when a step along the way is a symlink (``base`` itself
    is not checked). The caller has refused absolute paths and ``..`` already."""
    target = base
    for part in relative.parts:
        target = target / part
        if target.is_symlink():
            return None
    return target


def inside(root: Path, relative: str) -> Path:
    """``root / relative``, refusing absolute paths, ``..``, symlinks and missing files."""
    parts = PurePosixPath(relative.replace("\\", "/"))
    if parts.is_absolute() or ".." in parts.parts or not parts.parts:
        raise InvalidArgument(f"entrypoint {relative!r} must be a relative path inside the model")
    target = join_no_symlink(root, parts)
    if target is None:
        raise InvalidArgument(f"entrypoint {relative!r} is a symlink")
    if not target.is_file():
        raise NotFound(f"entrypoint {relative!r} is not a file in the model")
    return target


#: A python model's entrypoint: ``module:Class``, the module possibly dotted.
PYTHON_ENTRYPOINT = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):([A-Za-z_]\w*)$")


def python_entrypoint(path: Path, entrypoint: str | None) -> tuple[str, str]:
    """The module and class of the python model ``entrypoint`` (``module:Class``) at ``path``:
    an artifact directory holding the module as ``a/b.py`` or ``a/b/__init__.py``, or the one
    file pushed, which must be the module. InvalidArgument for another form (or a symlink),
    NotFound for a module that is no file of the model."""
    match = PYTHON_ENTRYPOINT.match(entrypoint or "")
    if match is None:
        raise InvalidArgument(
            f"the python runtime needs an entrypoint 'module:Class', got {entrypoint!r}"
        )
    module, cls = match.groups()
    relative = module.replace(".", "/")
    if path.is_file():
        if path.name != f"{relative}.py":
            raise NotFound(
                f"entrypoint {entrypoint!r}: module {module!r} is not {path.name!r}, the file "
                "pushed (the whole model)"
            )
    elif (path / f"{relative}.py").exists():
        inside(path, f"{relative}.py")
    elif (path / relative / "__init__.py").exists():
        inside(path, f"{relative}/__init__.py")
    else:
        raise NotFound(
            f"entrypoint {entrypoint!r}: module {module!r} is in no file of the model (neither "
            f"{relative}.py nor {relative}/__init__.py)"
        )
    return module, cls


def candidates(root: Path, runtime: str | None = None) -> list[tuple[Path, str]]:
    """(file, runtime) for each file under ``root`` in a recognised format (of ``runtime``)."""
    found = [(p, fmt) for p in files_under(root) if (fmt := sniff(p)) is not None]
    return [c for c in found if runtime is None or c[1] == runtime]


def model_file(path: Path, entrypoint: str | None, runtime: str) -> Path:
    """The one file a runtime loads from ``path`` (a file, or an artifact directory).

    In a directory: ``entrypoint`` when given, else the single file whose content is in the
    runtime's format; several is an error asking for an entrypoint. A file that is not in the
    runtime's format (or none at all) is an error saying what is wrong with it.
    """
    if path.is_file():
        return check_format(path, runtime, path.name)
    if entrypoint:
        return check_format(inside(path, entrypoint), runtime, entrypoint)
    found = candidates(path, runtime)
    if not found:
        raise InvalidArgument(no_model_file(path, runtime))
    if len(found) > 1:
        names = ", ".join(relative_name(p, path) for p, _ in found)
        raise InvalidArgument(
            f"expected one {runtime} model file in the model, found {names}; "
            "set the entrypoint in the model card"
        )
    return found[0][0]


def check_format(file: Path, runtime: str, name: str) -> Path:
    """``file`` (called ``name`` in messages) if it is in the ``runtime``'s format, else
    InvalidArgument saying what is wrong with it."""
    problem = format_problem(file, runtime)
    if problem is not None:
        raise InvalidArgument(f"{name!r} is not {FORMATS[runtime]}: {problem}")
    return file


def no_model_file(root: Path, runtime: str, shown: int = 3) -> str:
    """Why no file under ``root`` is one the ``runtime`` loads: what is wrong with each of the
    first ``shown`` files."""
    problems = [
        f"{relative_name(file, root)!r}: {problem}"
        for file in files_under(root)
        if (problem := format_problem(file, runtime)) is not None
    ]
    more = len(problems) - shown
    listed = "; ".join(problems[:shown]) + (f"; and {more} more files" if more > 0 else "")
    return f"no file in the model is {FORMATS[runtime]}: {listed or 'it holds no files'}"
