"""Runtimes come from entry points; unknown or uninstalled ones fail with the fix in the message."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

import inferd.runtimes
from inferd.errors import InvalidArgument, Unsupported
from inferd.runtimes import available_runtimes, get_runtime


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """Runtimes are cached per process; these tests need to instantiate them again."""
    get_runtime.cache_clear()
    yield
    get_runtime.cache_clear()


def test_the_builtin_runtimes_are_registered() -> None:
    assert available_runtimes() == [
        "lightgbm", "llamacpp", "onnx", "python", "sklearn", "xgboost",
    ]  # fmt: skip
    for name in available_runtimes():
        runtime = get_runtime(name)
        assert runtime.name == name
        assert get_runtime(name) is runtime  # one shared instance


def test_unknown_runtime_lists_the_available_ones() -> None:
    with pytest.raises(
        InvalidArgument,
        match="unknown runtime 'torch'; available runtimes: "
        "lightgbm, llamacpp, onnx, python, sklearn, xgboost",
    ):
        get_runtime("torch")


@pytest.mark.parametrize(
    ("runtime", "module", "extra"),
    [
        ("xgboost", "xgboost", "xgboost"),
        ("lightgbm", "lightgbm", "lightgbm"),
        ("sklearn", "skops.io", "sklearn"),
    ],
)
@pytest.mark.usefixtures("fresh_registry")
def test_missing_framework_names_the_pip_extra(
    monkeypatch: pytest.MonkeyPatch, runtime: str, module: str, extra: str
) -> None:
    # A None entry in sys.modules makes `import module` raise ImportError, as if uninstalled.
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(Unsupported, match=rf"pip install 'inferd\[{extra}\]'"):
        get_runtime(runtime)


def test_public_names() -> None:
    assert sorted(inferd.runtimes.__all__) == [
        "Detection",
        "LoadOptions",
        "Model",
        "Runtime",
        "Tensors",
        "available_runtimes",
        "detect_model",
        "get_runtime",
        "warmup_inputs",
    ]
