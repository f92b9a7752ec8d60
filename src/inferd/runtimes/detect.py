"""Which runtime loads a model, which file is its entry point, and what signature it declares.

Called by packaging on push. Formats are recognised by content (see :mod:`._formats`): ONNX,
skops, XGBoost JSON/UBJSON, LightGBM text and GGUF (``llamacpp``). A directory in the layout
Hugging Face's ``save_pretrained`` writes (``config.json`` beside ``*.safetensors`` shards) is
detected as ``transformers``, named after the library whose layout it is: no runtime inferd
ships loads it yet, so serving it needs a runtime registered under that name. Anything else,
pickle included, is not detected:
the user names the runtime (``--runtime``) or the store refuses the file. A runtime that loads
one of these formats is still held to it when named: a file it could not load is refused at
push, with what is wrong with it, rather than failing on every load.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from inferd.card import Signature
from inferd.errors import InvalidArgument, NotFound
from inferd.formats.onnx import external_data_locations, is_onnx
from inferd.runtimes._files import (
    candidates,
    check_format,
    files_under,
    inside,
    no_model_file,
    python_entrypoint,
    relative_name,
)
from inferd.runtimes._formats import SNIFFERS, TORCH_ADVICE, TORCH_RUNTIMES, is_pytorch, sniff
from inferd.runtimes._onnx_external import check_external_data
from inferd.runtimes._onnx_signature import onnx_partial_signature, read_onnx_signature
from inferd.runtimes._tabular import TAKES_STRINGS, input_problem
from inferd.runtimes.lightgbm import read_signature as read_lightgbm_signature
from inferd.runtimes.registry import available_runtimes
from inferd.runtimes.sklearn import OUTPUT_METHODS
from inferd.runtimes.sklearn import read_signature as read_sklearn_signature
from inferd.runtimes.xgboost import read_signature as read_xgboost_signature

log = logging.getLogger(__name__)

_FORMATS = "ONNX, skops, XGBoost JSON/UBJSON, LightGBM text, GGUF or a Hugging Face directory"
#: The runtime a Hugging Face directory of safetensors shards is detected as.
HF_RUNTIME = "transformers"
HF_CONFIG = "config.json"


def is_hf_directory(path: Path) -> bool:
    """``config.json`` beside at least one ``*.safetensors`` file, at the top of ``path``."""
    config = path / HF_CONFIG
    if not path.is_dir() or config.is_symlink() or not config.is_file():
        return False
    return any(
        p.suffix == ".safetensors" and p.is_file() and not p.is_symlink() for p in path.iterdir()
    )


@dataclass(frozen=True, slots=True)
class Detection:
    """What detection found. ``signature`` is None when the format declares none (packaging
    then reads ``inferd.model.yaml`` or ``--signature``); ``entrypoint`` is relative to PATH's
    directory, or PATH's own name when PATH is a file."""

    runtime: str
    signature: Signature | None
    entrypoint: str | None


def _check_runtime(runtime: str) -> None:
    available = available_runtimes()
    if runtime not in available:
        advice = f" ({TORCH_ADVICE})" if runtime.lower() in TORCH_RUNTIMES else ""
        raise InvalidArgument(
            f"unknown runtime {runtime!r}{advice}; available runtimes: {', '.join(available)}"
        )


def _single_file(path: Path, runtime: str | None, entrypoint: str | None) -> Detection:
    chosen = runtime if runtime is not None else sniff(path)
    if chosen is None and is_pytorch(path):
        raise InvalidArgument(f"{path.name!r} is a PyTorch file; {TORCH_ADVICE}")
    if chosen is None:
        raise InvalidArgument(
            f"{path.name!r} is not a model in a format inferd recognises "
            f"({_FORMATS}); pass --runtime"
        )
    if chosen not in SNIFFERS:  # a code runtime (python): the entrypoint names a class
        return Detection(chosen, None, entrypoint)
    check_format(path, chosen, path.name)  # a runtime the pusher named: held to its format
    return Detection(chosen, _signature(path, chosen), path.name)


def _in_directory(path: Path, runtime: str | None, entrypoint: str | None) -> Detection:
    if runtime is not None and runtime not in SNIFFERS:
        return Detection(runtime, None, entrypoint)
    if entrypoint is not None:
        found = _single_file(inside(path, entrypoint), runtime, None)
        return Detection(found.runtime, found.signature, entrypoint)
    models = candidates(path, runtime)
    if len(models) > 1:
        names = ", ".join(f"{relative_name(p, path)} ({fmt})" for p, fmt in models)
        raise InvalidArgument(
            f"several model files: {names}; name the one to serve with "
            "--runtime and an entrypoint in inferd.model.yaml"
        )
    if not models:
        if runtime is not None:  # the runtime loads only a file in its format: none is here
            raise InvalidArgument(no_model_file(path, runtime))
        if is_hf_directory(path):
            return Detection(HF_RUNTIME, None, None)
        torch = next((p for p in files_under(path) if is_pytorch(p)), None)
        why = "pass --runtime"
        if torch is not None:
            why = f"{relative_name(torch, path)!r} is a PyTorch file; {TORCH_ADVICE}"
        raise InvalidArgument(
            f"no model file in a format inferd recognises ({_FORMATS}) in {path.name!r}; {why}"
        )
    file, fmt = models[0]
    return Detection(fmt, _signature(file, fmt), relative_name(file, path))


def _signature(file: Path, runtime: str) -> Signature | None:
    return read_onnx_signature(file) if runtime == "onnx" and is_onnx(file) else None


#: Runtimes whose files declare no signature but tell what the model answers with: a
#: booster's features and the shape of its predictions, an estimator's input width and kind;
#: and an ONNX file declaring no rank for some tensor, which tells the rest.
_DERIVED: dict[str, Callable[[Path], Signature]] = {
    "xgboost": read_xgboost_signature,
    "lightgbm": read_lightgbm_signature,
    "sklearn": read_sklearn_signature,
    "onnx": onnx_partial_signature,
}


def check_signature(runtime: str, signature: Signature) -> None:
    """InvalidArgument when ``signature`` declares one name twice (for two inputs, or two
    outputs), or ``runtime`` cannot take the inputs it declares (a tabular runtime reads one
    ``[rows, features]`` matrix, numbers only for a booster) or cannot give the outputs (a
    booster gives one; scikit-learn the ones named for the estimator's methods)."""
    problem = (
        _twice(signature)
        or input_problem(runtime, signature)
        or _output_problem(runtime, signature)
    )
    if problem is not None:
        raise InvalidArgument(problem)


def _twice(signature: Signature) -> str | None:
    """A name ``signature`` declares for two inputs (or two outputs): a request sends each
    name once, and an answer holds each once."""
    for kind, specs in (("input", signature.inputs), ("output", signature.outputs)):
        names = [spec.name for spec in specs]
        twice = next((name for i, name in enumerate(names) if name in names[:i]), None)
        if twice is not None:
            return (
                f"the signature declares {kind} {twice!r} twice; each {kind} needs a name of "
                "its own"
            )
    return None


def _output_problem(runtime: str, signature: Signature) -> str | None:
    names = [spec.name for spec in signature.outputs]
    if runtime == "sklearn":
        unknown = next((name for name in names if name not in OUTPUT_METHODS), None)
        if unknown is None:
            return None
        gives = ", ".join(f"{name} ({method})" for name, method in OUTPUT_METHODS.items())
        return (
            f"the sklearn runtime cannot give output {unknown!r}; it gives the outputs named "
            f"{gives}"
        )
    if runtime in TAKES_STRINGS and len(names) > 1:  # a booster
        return (
            f"the {runtime} runtime gives one output, what the booster predicts; the "
            f"signature declares {len(names)} ({', '.join(names)})"
        )
    return None


def derive_signature(file: Path, runtime: str) -> Signature | None:
    """The signature ``runtime`` answers with for the model ``file`` when its card declares
    none (xgboost and lightgbm: ``input`` FP32 ``[-1, features]`` and ``predictions`` as the
    booster predicts, see :func:`~inferd.runtimes._tabular.booster_signature`; sklearn: see
    :func:`~inferd.runtimes.sklearn.read_signature`; onnx, for a file declaring no rank for
    some tensor: :func:`~inferd.runtimes._onnx_signature.onnx_partial_signature`), or None for
    runtimes whose files do not tell. A tabular runtime loads the model with its framework:
    Unsupported when that is not installed,
    InvalidArgument when it cannot load the file, NotDerived
    (:class:`~inferd.runtimes._tabular.NotDerived`) when this file does not tell."""
    derive = _DERIVED.get(runtime)
    return derive(file) if derive is not None else None


def detect_model(path: Path, runtime: str | None, *, entrypoint: str | None = None) -> Detection:
    """Detect the runtime, entry point and signature of the model at ``path`` (file or dir).

    ``runtime`` given: checked to be installed, and for a runtime that loads a file format
    (onnx, sklearn, xgboost, lightgbm) the model file must be in that format (the error says
    what is wrong with it); the signature is still read where the format allows.
    ``entrypoint`` given: that file (or, for the python runtime, that ``module:Class``) is the
    model. Raises InvalidArgument for an unknown runtime, an unrecognised file, a file not in
    the named runtime's format, a directory holding several candidate models, or ONNX external
    data that is not in the model; NotFound when ``path`` does not exist.
    """
    if runtime is not None:
        _check_runtime(runtime)
    if path.is_dir():
        detection = _in_directory(path, runtime, entrypoint)
    elif path.is_file():
        detection = _single_file(path, runtime, entrypoint)
    else:
        raise NotFound(f"{path.name!r} does not exist or is not a regular file or directory")
    if detection.runtime == "onnx" and detection.entrypoint is not None:
        _check_onnx_data(path, detection.entrypoint)
    if detection.runtime == "python" and detection.entrypoint is not None:
        python_entrypoint(path, detection.entrypoint)  # as the load checks it
    elif detection.runtime == "python":
        # Stored all the same (the runtime takes files as they are), but said on the pusher's
        # terminal: every load of it will fail.
        log.warning(
            "%s: the python runtime loads the class an entrypoint names ('module:Class', in "
            "inferd.model.yaml or the --signature FILE that stands for it), and none is given: "
            "no server can load this version",
            path.name,
        )
    return detection


def _check_onnx_data(path: Path, entrypoint: str) -> None:
    """The external data files the ONNX model at ``path`` names are in the model: a file
    pushed alone names none; a directory holds them (checked as a load checks them)."""
    if path.is_dir():
        check_external_data(inside(path, entrypoint), path)
        return
    locations = external_data_locations(path)
    if locations:
        named = ", ".join(repr(location) for location in dict.fromkeys(locations))
        raise InvalidArgument(
            f"{path.name!r} keeps tensor data in other files ({named}), which a push of the "
            "file alone leaves out: push the directory holding them"
        )
