"""The ``inferd`` command line. Importing this package registers every command on ``main``."""

from inferd.cli import (
    control_cmds,
    cost_cmds,
    gpu_cmds,
    k8s_cmds,
    keys_cmds,
    registry_cmds,
    rollout_cmds,
    serve_cmds,
    store_cmds,
)
from inferd.cli._app import main

__all__ = [
    "control_cmds",
    "cost_cmds",
    "gpu_cmds",
    "k8s_cmds",
    "keys_cmds",
    "main",
    "registry_cmds",
    "rollout_cmds",
    "serve_cmds",
    "store_cmds",
]
