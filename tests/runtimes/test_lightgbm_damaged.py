"""A damaged LightGBM text model (cut short, its line endings turned to CRLF by a Windows
checkout) made LightGBM's parser call std::terminate: push, and a server loading it with every
other model it served, died (status 134). The file is now checked before LightGBM reads it, and
refused naming what is wrong. Each case runs in a child process, so a regression fails it
rather than ending pytest."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from inferd.card import ModelCard
    from inferd.errors import InvalidArgument
    from inferd.runtimes import LoadOptions, get_runtime
    from inferd.runtimes.detect import derive_signature
    model = Path(sys.argv[1])
    for step in ("push", "load"):
        try:
            if step == "push":
                derive_signature(model / "model.txt", "lightgbm")
            else:
                get_runtime("lightgbm").load(model, ModelCard(name="m", runtime="lightgbm"),
                                             LoadOptions())
            print(step, "ok")
        except InvalidArgument as exc:
            print(step, exc.message)
    """
)


@pytest.fixture(scope="module")
def text() -> str:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)
    params = {"objective": "multiclass", "num_class": 3, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=3)
    return str(booster.model_to_string())


def _run(tmp_path: Path, content: bytes) -> list[str]:
    (tmp_path / "model.txt").write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (
            lambda t: t[: t.index("Tree=2") + 200],
            "'model.txt' is not a valid LightGBM model: it is cut short (tree 2 is incomplete)",
        ),
        (
            lambda t: t.replace("\n", "\r\n"),
            "'model.txt' is not a valid LightGBM model: its lines end in CRLF (a Windows "
            "checkout?), which LightGBM cannot read: convert them to LF (dos2unix)",
        ),
    ],
)
def test_a_damaged_model_is_refused_not_fatal(
    tmp_path: Path, text: str, damage: object, problem: str
) -> None:
    damaged = damage(text)  # type: ignore[operator]
    assert _run(tmp_path, damaged.encode()) == [f"push {problem}", f"load {problem}"]


def test_a_whole_model_loads(tmp_path: Path, text: str) -> None:
    assert _run(tmp_path, text.encode()) == ["push ok", "load ok"]
