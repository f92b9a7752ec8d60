"""File titles that cannot escape a directory, on push, on pull and inside zip archives.

Which file *formats* the store admits is :mod:`inferd.store.admission`.
"""

from __future__ import annotations

from pathlib import Path

from inferd.errors import InvalidArgument


def validate_title(title: str) -> str:
    """Return ``title`` if it is a safe relative POSIX path, else raise InvalidArgument.

    Refused: empty, absolute, drive-qualified, backslashes, NUL or control characters, and any
    empty, ``.`` or ``..`` component. The same check guards push and pull.
    """
    problem: str | None = None
    if not title or len(title) > 4096:
        problem = "is empty or too long"
    elif any("\udc80" <= c <= "\udcff" for c in title):  # os.fsdecode's escape of a byte
        problem = "is not UTF-8 (a name in another encoding); rename the file"
    elif not title.isprintable():
        problem = "contains control characters"
    elif "\\" in title:
        problem = "contains a backslash"
    elif title.startswith("/") or (len(title) > 1 and title[1] == ":"):
        problem = "is absolute"
    elif any(part in ("", ".", "..") for part in title.split("/")):
        problem = "has an empty, '.' or '..' component"
    if problem is not None:
        raise InvalidArgument(f"file title {title!r} {problem}; titles are relative paths")
    return title


def prepare_target(root: Path, title: str) -> Path:
    """Create the parent directories of ``root / title`` and return that path.

    Each existing component must be a real directory, not a symlink, so a crafted title or a
    planted link cannot make a write land outside ``root``; the target itself must not be a
    symlink or a directory.
    """
    parts = validate_title(title).split("/")
    current = root
    for part in parts[:-1]:
        current = current / part
        if current.is_symlink() or (current.exists() and not current.is_dir()):
            raise _in_the_way(root, title, current, "a directory")
        current.mkdir(exist_ok=True)
    target = current / parts[-1]
    if target.is_symlink() or target.is_dir():
        raise _in_the_way(root, title, target, "a file (a pull never writes through links)")
    return target


def _in_the_way(root: Path, title: str, path: Path, wanted: str) -> InvalidArgument:
    """What stands at ``path`` in a pull's destination where ``title`` needs ``wanted``."""
    kind = "symlink" if path.is_symlink() else "directory" if path.is_dir() else "file"
    return InvalidArgument(
        f"cannot write {title!r} into the destination {str(root)!r}: {str(path)!r} is a "
        f"{kind}, not {wanted}; move it away or pull elsewhere"
    )


def not_a_directory(path: Path) -> Path | None:
    """The nearest existing path at or above ``path`` when it is not a directory, so that
    ``path`` cannot be a directory (a file in the way); None when nothing stands in the way."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None
