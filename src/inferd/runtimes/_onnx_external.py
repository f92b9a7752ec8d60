"""Check the external-data references of an ONNX file before onnxruntime follows them.

An ONNX tensor may keep its bytes in another file (``external_data`` ``location``), resolved by
onnxruntime relative to the model file. A model artifact must not reach outside its own
directory that way, neither by ``..``/absolute paths nor through a symlink, so every tensor in
the file (initializers, sparse initializers, node attributes, subgraphs, functions, training
graphs) is visited with the streaming reader (:func:`inferd.formats.onnx.external_data_locations`)
and its locations are checked first.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from inferd.errors import InvalidArgument
from inferd.formats.onnx import external_data_locations
from inferd.runtimes._files import join_no_symlink


def check_external_data(model_file: Path, root: Path) -> None:
    """Refuse external data that is absolute, climbs with ``..``, leaves ``root``, passes
    through a symlink, or is missing.

    ``root`` is the artifact directory; locations resolve against the model file's directory,
    as onnxruntime resolves them. ``..`` is refused outright: through a symlinked directory it
    would resolve somewhere no lexical check can predict.
    """
    root = root.resolve()
    base = model_file.resolve().parent
    for location in external_data_locations(model_file):
        relative = PurePosixPath(location.replace("\\", "/"))
        if not location or relative.is_absolute() or PureWindowsPath(location).drive:
            raise InvalidArgument(f"ONNX external data location {location!r} is not relative")
        if ".." in relative.parts or not base.is_relative_to(root):
            raise InvalidArgument(
                f"ONNX external data location {location!r} points outside the model directory"
            )
        target = join_no_symlink(base, relative)
        if target is None:
            raise InvalidArgument(f"ONNX external data location {location!r} is a symlink")
        if not target.is_file():
            raise InvalidArgument(f"ONNX external data file {location!r} is missing")
