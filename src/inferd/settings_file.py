"""How a settings file (``inferd serve --config FILE``) is read.

Kept out of :mod:`inferd.config`, which holds the settings' types: this is the one place that
turns a file a user names into the mapping those types are validated from, and whatever keeps
it from being read (missing, not UTF-8, not YAML, not a mapping) into one InvalidArgument that
names the file, with the line and column of a YAML error, instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inferd.errors import InvalidArgument


def read_settings_file(file: Path, what: str = "config file") -> dict[str, Any]:
    """The mapping at the top of YAML settings file ``file`` (empty for an empty file): a
    ``--config`` file, or (``what``) another file of settings such as a Kubernetes overlay.

    Messages name the file by the path given (the user's own), never a resolved path.
    """
    import yaml  # deferred: read only with --config (most starts have no settings file)

    where = f"{what} {str(file)!r}"
    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidArgument(f"{where}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"{where}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InvalidArgument(f"{where}: cannot read it ({exc.strerror or exc})") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"
        raise InvalidArgument(f"{where}: not valid YAML{at}: {exc.problem}") from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (a control one)
        at = f"character {exc.position + 1}"
        raise InvalidArgument(f"{where}: not valid YAML at {at}: {exc.reason}") from None
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"{where}: not valid YAML ({type(exc).__name__})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise InvalidArgument(f"{where}: expected a mapping at the top")
    return loaded
