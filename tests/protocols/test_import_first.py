"""Every module of the wire protocols and the serving core imports on its own, first.

Embedders import these directly (the OpenAI request bodies, the codecs, the data plane). A
package ``__init__`` that re-exports its submodules can close an import loop that only shows
when one module of the loop is imported before the others: ``inferd.protocols.v2`` re-exporting
its routers made ``import inferd.protocols.openai.protocol`` an ImportError, although the
server, which imports the routers first, never noticed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

WALK = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    failed = []
    for package in ("inferd.protocols", "inferd.serving"):
        root = importlib.import_module(package)
        names = [m.name for m in pkgutil.walk_packages(root.__path__, package + ".")]
        for name in names:
            for loaded in [m for m in sys.modules if m == "inferd" or m.startswith("inferd.")]:
                del sys.modules[loaded]
            try:
                importlib.import_module(name)
            except Exception as exc:
                failed.append(f"{name}: {exc!r}")
    print("\\n".join(failed))
    """
)


def test_each_protocols_and_serving_module_imports_before_any_other() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WALK], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "", done.stdout


def test_the_documented_router_names_still_come_from_the_package() -> None:
    from inferd.protocols import v2
    from inferd.protocols.v2 import routes

    assert v2.data_router is routes.data_router
    assert v2.control_router is routes.control_router
