"""Grafana dashboards as code: the fleet, one model in depth, language models, and GPUs
(docs/grafana.md).

Dashboards are typed values (:mod:`.builder`) over series named once (:mod:`.promql`); their
JSON is committed in ``deploy/grafana/`` for Grafana's file provider and rendered as ConfigMaps
for the Grafana sidecar (:func:`grafana_config_maps`).
"""

from inferd.deploy.grafana.builder import Dashboard, Need, Query
from inferd.deploy.grafana.provisioning import DASHBOARDS, files, grafana_config_maps, write

__all__ = ["DASHBOARDS", "Dashboard", "Need", "Query", "files", "grafana_config_maps", "write"]
