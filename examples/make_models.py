"""Train the bundled example models, deterministically (fixed seeds, fixed zip timestamps).

    python examples/make_models.py          # rewrites the files below

The bytes are the same at every run with the same scikit-learn, numpy and BLAS; another
version of them may move the last bits of the weights (about 1e-7), not the predictions.

- quickstart/fraud-v1/model.onnx, quickstart/fraud-v2/model.onnx: a binary "fraud" classifier on
  8 float features (scikit-learn LogisticRegression → ONNX with skl2onnx, zipmap off). Input
  ``input`` FP32 [-1, 8]; outputs ``label`` INT64 [-1] and ``probabilities`` FP32 [-1, 2]. v2 is
  trained on a different slice of the data, so the two disagree on a few percent of rows.
- sklearn/fraud.skops: the v1 classifier in the skops format, with its inferd.model.yaml.

Needs the dev extras (scikit-learn, skl2onnx, skops); never downloads anything.
"""

from __future__ import annotations

import argparse
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import skops.io
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

HERE = Path(__file__).resolve().parent
FEATURES = 8
SEED = 20240611
TARGET_OPSET = 17
#: Zip members get this timestamp so the .skops bytes do not depend on when they were made.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def fraud_data() -> tuple[np.ndarray, np.ndarray]:
    """A fixed, imbalanced binary classification problem on 8 float32 features."""
    x, y = make_classification(
        n_samples=4000,
        n_features=FEATURES,
        n_informative=5,
        n_redundant=1,
        weights=[0.8, 0.2],
        flip_y=0.02,
        random_state=SEED,
    )
    return x.astype(np.float32), y


def train(x: np.ndarray, y: np.ndarray, rows: slice) -> LogisticRegression:
    return LogisticRegression(max_iter=1000, C=0.5).fit(x[rows], y[rows])


def to_onnx(model: LogisticRegression) -> bytes:
    onx = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, FEATURES]))],
        options={id(model): {"zipmap": False}},
        target_opset=TARGET_OPSET,
        name="fraud",  # the default graph name is a random uuid
    )
    return bytes(onx.SerializeToString())


def deterministic_skops(data: bytes) -> bytes:
    """The same skops archive, made reproducible: skops names array members and ``__id__``
    fields after ``id()`` of the objects and zip stores wall-clock times, so ids and members are
    renumbered in order of appearance (equal ids stay equal) and every timestamp is fixed."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        names = [n for n in src.namelist() if n != "schema.json"]
        renamed = {name: f"{i}.npy" for i, name in enumerate(names)}
        schema = src.read("schema.json").decode()
        for old, new in renamed.items():
            schema = schema.replace(f'"{old}"', f'"{new}"')
        ids: dict[str, str] = {}
        schema = re.sub(
            r'"__id__": (\d+)', lambda m: f'"__id__": {ids.setdefault(m[1], str(len(ids)))}', schema
        )
        members = [("schema.json", schema.encode())]
        members += [(renamed[n], src.read(n)) for n in names]
        for name, payload in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, payload)
    return out.getvalue()


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"wrote {path.relative_to(HERE)} ({len(data)} bytes)")


def main() -> None:
    x, y = fraud_data()
    v1 = train(x, y, slice(0, 2000))
    v2 = train(x, y, slice(1500, 4000))
    write(HERE / "quickstart" / "fraud-v1" / "model.onnx", to_onnx(v1))
    write(HERE / "quickstart" / "fraud-v2" / "model.onnx", to_onnx(v2))
    write(HERE / "sklearn" / "fraud.skops", deterministic_skops(skops.io.dumps(v1)))
    disagree = float(np.mean(v1.predict(x) != v2.predict(x)))
    print(f"fraud v1 and v2 disagree on {disagree:.1%} of {len(x)} rows")


if __name__ == "__main__":
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()  # no options: --help explains, and anything else is refused before a write
    main()
