"""Fixtures of the Greengrass tests: component configurations as a deployment completes them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from component_configs import GATEWAY, TAG_MAP, defaults


@pytest.fixture
def pipeline_configuration() -> dict[str, Any]:
    """Recipe defaults plus what a deployment adds: the tag maps and fast runner timings."""
    return {
        **defaults("com.dmc.TagPipeline"),
        "tag_maps": {GATEWAY: copy.deepcopy(TAG_MAP)},
        "runner": {"linger_s": 0.05, "tick_s": 0.05, "heartbeat_interval_s": 1},
    }


@pytest.fixture
def command_configuration(tmp_path: Path) -> dict[str, Any]:
    """Recipe defaults plus what a deployment adds: the OPC UA server and the allow-list."""
    files = {}
    for name in ("certificate", "private_key", "server_certificate"):
        files[name] = str(tmp_path / f"{name}.pem")
        Path(files[name]).write_text("installed by the OT engineer\n", encoding="utf-8")
    return {
        **defaults("com.dmc.CommandHandler"),
        "opcua": {"endpoint": "opc.tcp://plc-filler:4840", **files},
        "setpoints": [
            {
                "path": "acme/plantA/filling/line1/filler/temp_setpoint",
                "node_id": "ns=2;s=Filler.Setpoint",
                "min": 60,
                "max": 80,
            }
        ],
    }
