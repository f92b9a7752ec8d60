"""Writing rendered objects: a YAML stream, or a kustomize base in a directory.

The base holds one file per object (``{kind}-{name}.yaml``, lower-case) and a
``kustomization.yaml`` listing them in render order, so ``kubectl apply -k DIR`` applies exactly
what ``render`` returned and ``kubectl kustomize DIR`` prints it. The kustomization sets no
``namespace``: objects carry their own (the GPU operator's ConfigMap lives in the operator's
namespace whatever the stack's), and overlays may still set one.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from inferd.deploy.objects import Obj
from inferd.errors import AlreadyExists, InternalError

KUSTOMIZATION = "kustomization.yaml"


class _Dumper(yaml.SafeDumper):
    """Block style, multi-line strings (embedded configs) as literal blocks, and every part
    written out where it appears: a part two objects or rules share (a route's rewrite filter)
    is never an anchor and alias (``&id001``, ``*id001``), which kubectl expands but a GitOps
    diff, a kustomize patch or a reader cannot follow."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(document: object) -> str:
    """One YAML document, keys in the order the renderer wrote them."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)


def to_stream(objects: list[Obj]) -> str:
    """A multi-document YAML stream (what ``kubectl apply -f -`` reads)."""
    return "".join(f"---\n{to_yaml(o)}" for o in objects)


def file_name(o: Obj) -> str:
    return f"{o['kind'].lower()}-{o['metadata']['name']}.yaml"


def write_base(objects: list[Obj], directory: Path) -> list[Path]:
    """Write the kustomize base into ``directory`` (created if needed); return the files.

    A directory that holds other YAML files is refused, so a stale object from a previous
    render is never silently left behind (files of the same names are replaced).
    """
    names = [file_name(o) for o in objects]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise InternalError(f"two rendered objects share a file name: {', '.join(duplicates)}")
    directory.mkdir(parents=True, exist_ok=True)
    expected = {*names, KUSTOMIZATION}
    stale = sorted(
        p.name for p in directory.iterdir() if p.suffix == ".yaml" and p.name not in expected
    )
    if stale:
        raise AlreadyExists(
            f"{directory} holds YAML files this render does not write ({', '.join(stale)}); "
            "render into an empty directory or remove them"
        )
    written = []
    for o, name in zip(objects, names, strict=True):
        path = directory / name
        path.write_text(to_yaml(o), encoding="utf-8")
        written.append(path)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": names,
    }
    path = directory / KUSTOMIZATION
    path.write_text(to_yaml(kustomization), encoding="utf-8")
    return [*written, path]
