"""BYTES inputs as text, for frameworks that compare strings (onnxruntime's string tensors,
scikit-learn's encoders): OIP BYTES arrive as ``bytes``, which such a framework takes for other
values than the strings it was fitted on (onnxruntime would store the repr, "b'red'";
scikit-learn's OneHotEncoder finds no known category)."""

from __future__ import annotations

from inferd.datatypes import Array, object_array
from inferd.errors import InvalidArgument


def as_text(name: str, value: Array) -> Array:
    """The elements of input ``name`` decoded from UTF-8 to ``str``, in the same shape; an
    element that is not UTF-8 is the client's mistake (InvalidArgument naming the input)."""
    # tolist() and one assignment: 9 ms instead of 15 for 64 Ki elements (numpy's per-element
    # iteration and np.array's inspection of the list were most of it), all held by this thread.
    try:
        texts = [v.decode("utf-8") if isinstance(v, bytes) else v for v in value.ravel().tolist()]
    except UnicodeDecodeError:
        raise InvalidArgument(f"tensor {name!r}: a string input must be UTF-8") from None
    return object_array(texts, value.shape)
