"""How settings are read: a settings file (``inferd serve --config FILE``), ``INFERD_*``
environment variables and flags, merged and validated (:func:`load_settings`).

Kept out of :mod:`inferd.config`, which holds the settings' types: this is the one place that
turns a file a user names into the mapping those types are validated from, and whatever keeps
it from being read (missing, not UTF-8, not YAML, not a mapping) into one InvalidArgument that
names the file, with the line and column of a YAML error, instead of a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from inferd.errors import InvalidArgument

ENV_PREFIX = "INFERD_"


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


S = TypeVar("S", bound=BaseModel)


def _env_values(environ: Mapping[str, str], prefix: str = ENV_PREFIX) -> dict[str, Any]:
    """``INFERD_BATCHING__MAX_BATCH_SIZE=8`` → ``{"batching": {"max_batch_size": "8"}}``."""
    out: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(prefix):
            continue
        parts = key[len(prefix) :].lower().split("__")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(
    cls: type[S],
    *,
    file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> S:
    """Build settings from file < environment < overrides; errors name the offending field
    (and the file, when it cannot be read: :func:`~inferd.settings_file.read_settings_file`)."""
    values: dict[str, Any] = {}
    if file is not None:
        values = read_settings_file(file)
    env = _env_values(os.environ if environ is None else environ)
    # Only keys the class knows come from the environment (INFERD_HOME is the store's).
    known = set(cls.model_fields)
    values = _merge(values, {k: v for k, v in env.items() if k in known})
    values = _merge(values, {k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidArgument(f"invalid settings: {problems}") from None
