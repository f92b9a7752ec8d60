"""How settings are read: a settings file (``inferd serve --config FILE``), ``INFERD_*``
environment variables and flags, merged and validated (:func:`load_settings`).

Kept out of :mod:`inferd.config`, which holds the settings' types: this is the one place that
turns a file a user names into the mapping those types are validated from, and whatever keeps
it from being read (missing, not UTF-8, not YAML, not a mapping) into one InvalidArgument that
names the file, with the line and column of a YAML error, instead of a traceback.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

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
        text = file.read_text(encoding="utf-8")
        loaded = yaml.safe_load(text)
        root = yaml.compose(text) if loaded is not None else None
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
    _refuse_repeated_keys(root, where)
    return loaded


def _refuse_repeated_keys(root: Any, where: str) -> None:
    """A key written twice in one mapping: YAML keeps the last, so what the first set (the
    whole section, for ``batching:`` written twice) would be dropped without a word."""
    import yaml

    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        if not isinstance(node, yaml.MappingNode):
            continue
        seen: dict[str, Any] = {}
        for key, value in node.value:
            stack.append(value)
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name is None or name == "<<":  # a merge key may repeat
                continue
            if name in seen:
                first, at = seen[name].start_mark, key.start_mark
                raise InvalidArgument(
                    f"{where}: {name!r} is given twice, at line {first.line + 1} and at line "
                    f"{at.line + 1}, column {at.column + 1} (YAML would keep only the last): "
                    "write it once"
                )
            seen[name] = key


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
    flags: Mapping[str, str] | None = None,
) -> S:
    """Build settings from file < environment < overrides; errors name the offending field
    (and the file, when it cannot be read: :func:`~inferd.settings_file.read_settings_file`),
    an override's by its flag in ``flags`` (dotted setting → flag, e.g. ``--max-body-bytes``)."""
    from_file: dict[str, Any] = {} if file is None else read_settings_file(file)
    env = _env_values(os.environ if environ is None else environ)
    # Only keys the class knows come from the environment (INFERD_HOME is the store's).
    from_env = {k: v for k, v in env.items() if k in cls.model_fields}
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    try:
        return cls.model_validate(_merge(_merge(from_file, from_env), given))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(str(p) for p in err["loc"])
            message = unknown_key(cls, loc) if err["type"] == "extra_forbidden" else err["msg"]
            where = _source(loc, file, from_file, from_env, given, flags=flags or {})
            problems.append(f"{where}: {message}")
        raise InvalidArgument(f"invalid settings: {'; '.join(problems)}") from None


def unread_variables(
    cls: type[BaseModel], environ: Mapping[str, str], others: tuple[str, ...] = ()
) -> list[str]:
    """A warning for each ``INFERD_*`` variable in ``environ`` that names no setting of ``cls``
    (nor one of ``others``, variables other parts of inferd read), so nothing reads it: a
    flag's name written as a variable (``INFERD_MAX_BATCH_SIZE``) does nothing otherwise. It
    names the variable it may have meant."""
    names = [f"{ENV_PREFIX}{path.upper()}" for path in _paths(cls)]
    warnings = []
    for key in sorted(environ):
        top = key[len(ENV_PREFIX) :].lower().split("__")[0]
        if not key.startswith(ENV_PREFIX) or top in cls.model_fields or key in others:
            continue
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"{key} names no setting, so nothing reads it{hint}")
    return warnings


def _paths(cls: type[BaseModel], prefix: str = "") -> list[str]:
    """The variable-style paths (``batching__max_batch_size``) of every setting of ``cls``."""
    paths = []
    for name, field in cls.model_fields.items():
        inner = _model_in(field.annotation)
        if inner is None or get_origin(field.annotation) is dict:  # models: {NAME: …} is a leaf
            paths.append(prefix + name)
        else:
            paths.extend(_paths(inner, f"{prefix}{name}__"))
    return paths


def _source(
    loc: tuple[str, ...],
    file: Path | None,
    from_file: Mapping[str, Any],
    from_env: Mapping[str, Any],
    given: Mapping[str, Any],
    *,
    flags: Mapping[str, str],
) -> str:
    """Where the value at ``loc`` came from, as the user wrote it: the flag, the environment
    variable, the file's line and column, or (a default's) its dotted path."""
    dotted = ".".join(loc)
    if _holds(given, loc):
        return f"{flags[dotted]} ({dotted})" if dotted in flags else dotted
    if _holds(from_env, loc):
        return f"{ENV_PREFIX}{'__'.join(loc).upper()}"
    if file is not None and _holds(from_file, loc):
        return f"{file}:{yaml_position(file, loc)}: {dotted}"
    return dotted


def _holds(values: Mapping[str, Any], loc: tuple[str, ...]) -> bool:
    """Whether ``values`` has a value at ``loc`` (or at the section above a missing key)."""
    node: Any = values
    for part in loc:
        if not isinstance(node, Mapping) or part not in node:
            return node is not values and isinstance(node, Mapping)
        node = node[part]
    return True


def unknown_key(cls: type[BaseModel], loc: tuple[str, ...]) -> str:
    """The message for key ``loc[-1]``, which the settings ``cls`` do not have at ``loc``: the
    key it may have meant, or the keys there are."""
    model = _model_at(cls, loc[:-1])
    known = sorted(model.model_fields) if model is not None else []
    close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
    if close:
        return f"unknown key (did you mean {close[0]!r}?)"
    return f"unknown key (known: {', '.join(known)})" if known else "unknown key"


def _model_at(cls: type[BaseModel], loc: tuple[str, ...]) -> type[BaseModel] | None:
    """The settings model at ``loc`` of ``cls``, a map's key or a list's index skipped."""
    model: type[BaseModel] = cls
    parts = list(loc)
    while parts:
        field = model.model_fields.get(parts.pop(0))
        if field is None:
            return None
        inner = _model_in(field.annotation)
        if inner is None:
            return None
        model = inner
        if parts and parts[0] not in model.model_fields:  # a map's key or a list's index
            parts.pop(0)
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for a in get_args(annotation) if (m := _model_in(a)) is not None), None)


def yaml_position(path: Path, loc: tuple[str, ...]) -> str:
    """``line:column`` in YAML file ``path`` of the key (or list item) at ``loc``, a
    validation error's location (of the deepest part of it written)."""
    import yaml  # deferred, as read_settings_file does

    node: yaml.Node | None = yaml.compose(path.read_text(encoding="utf-8"))
    mark = None if node is None else node.start_mark
    for part in loc:
        if isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            mark = node.start_mark
            continue
        if not isinstance(node, yaml.MappingNode):
            break
        found = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
        if found is None:
            break
        mark, node = found[0].start_mark, found[1]
    return "1:1" if mark is None else f"{mark.line + 1}:{mark.column + 1}"
