"""The page's polls in a real headless Chromium: what a redraw leaves alone, and polls that
work however the page was opened.

The page redraws every 1.5 s (status) and 10 s (lineage), and the reader's place must survive
it — a wide table scrolled sideways on a phone, a failure reason selected to copy, a replica
chip under the pointer (its tooltip is the pid, restarts and uptime), a lineage panel folded
away. Each redraw used to build those nodes anew, so the table snapped back, the selection and
the tooltip vanished and the panel opened again within seconds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from inferd.config import LimitSettings, StoreSettings
from inferd.control.gateway import Gateway
from inferd.packaging import push
from inferd.protocols.access.frontdoor import FrontDoor
from inferd.protocols.access.keyfile import create_key
from inferd.protocols.access.keyring import KeyRing
from inferd.store import ModelStore

from .browser import DevTools, chromium
from .gateway.conftest import QUICKSTART, ReplicaProcess, deployment, run, topology, version
from .test_dashboard_in_browser import replica, with_browser

__all__ = ["chromium", "replica"]  # fixtures, used by name


def test_a_redraw_keeps_scroll_selection_hovered_chip_and_folded_lineage(
    chromium: str, replica: ReplicaProcess, tmp_path: Path
) -> None:
    reason = "exited with status 1: ModuleNotFoundError: No module named 'onnxruntime'"
    v1 = version("v1", 100, replica)
    failed = replace(v1.replicas[0], id="v1-9", state="failed", reason=reason, pid=None)
    topo = topology(deployment("fraud", replace(v1, replicas=(*v1.replicas, failed))))
    store = ModelStore.from_settings(StoreSettings(home=tmp_path / "home"))
    push(store, QUICKSTART / "fraud-v1", "fraud:v1")

    def status(gateway: Gateway) -> Callable[[], Mapping[str, object]]:
        gateway.charts.model_history = store.history  # as inferd up does: the lineage panel
        return gateway.status

    def drive(tools: DevTools, base: str) -> list[object]:
        tools.page("Emulation.setDeviceMetricsOverride", width=390, height=1400,
                   deviceScaleFactor=1, mobile=True)  # fmt: skip
        tools.page("Page.navigate", url=base)
        tools.until("!!document.querySelector('[data-replica=\"v1-9\"]')"
                    " && !!document.querySelector('.lineage details')")  # fmt: skip
        tools.js("""(() => {
          document.querySelector('.live table').scrollLeft = 200;
          const range = document.createRange();
          range.selectNodeContents(document.querySelector('[data-replica="v1-9"]'));
          getSelection().removeAllRanges();
          getSelection().addRange(range);
          document.querySelector('.replica').kept = true;
          document.querySelector('.lineage details').open = false;
          // Gone once each part is redrawn: a poll of /api/status, then of /api/lineage.
          document.querySelector('.card-head h2').dataset.probe = '';
          document.querySelector('.lineage h3').dataset.probe = '';
        })()""")  # fmt: skip
        tools.until("!document.querySelector('[data-probe]')", timeout=60)
        kept: list[object] = tools.js("""[
          document.querySelector('.live table').scrollLeft,
          getSelection().toString(),
          document.querySelector('.replica').kept === true,
          document.querySelector('.lineage details').open,
        ]""")  # fmt: skip
        return kept

    scrolled, selected, chip, lineage_open = with_browser(topo, tmp_path / "profile", drive, status)
    assert scrolled == 200
    assert selected == f"v1-9: {reason}"
    assert chip is True
    assert lineage_open is False


def test_polls_work_when_the_page_was_opened_with_the_key_in_its_address(
    chromium: str, replica: ReplicaProcess, tmp_path: Path
) -> None:
    """A gateway with API keys, opened as ``http://ops:TOKEN@host:port/`` (Basic, the token as
    the password, as docs/security.md has it): the page is shown and its polls are answered.
    Every poll used to fail in the browser before it was sent ("Request cannot be constructed
    from a URL that includes credentials": a path resolved against the page's address carries
    them), and the page said "gateway unreachable"."""
    keys = tmp_path / "keys.json"
    token = create_key(keys, "ops", scopes=["read"])[1]
    topo = topology(deployment("fraud", version("v1", 100, replica)))

    async def scenario() -> list[object]:
        gateway = Gateway("127.0.0.1", 0, limits=LimitSettings())
        gateway.front_door = FrontDoor(KeyRing(keys, required=True))
        await gateway.start()
        gateway.update(topo)
        tools = await asyncio.to_thread(DevTools, tmp_path / "profile")
        try:
            url = f"http://ops:{token}@127.0.0.1:{gateway.port}/"
            await asyncio.to_thread(tools.page, "Page.navigate", url=url)
            await asyncio.to_thread(tools.until, "document.getElementById('updated')?.textContent")
            shown: list[object] = await asyncio.to_thread(tools.js, """[
              document.getElementById('ready').textContent,
              document.getElementById('problem').textContent,
              document.querySelectorAll('tr[data-version]').length,
            ]""")  # fmt: skip
            return shown
        finally:
            await asyncio.to_thread(tools.close)
            await gateway.stop(5)

    assert run(scenario) == ["ready", "", 1]
