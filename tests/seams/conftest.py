"""Fixtures of the seam tests: every example site and one customised site, each synthesized once per session.

``glue_jobs/`` goes on sys.path so that ``dmc_etl`` is imported exactly as the Glue job imports it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from site_templates import SynthesizedSite

from site_model import Site
from stacks.site_stack import SiteStack
from synth_helpers import example_sites, synth, variant

GLUE_JOBS = Path(__file__).resolve().parents[2] / "factory_constructs" / "etl" / "glue_jobs"
if str(GLUE_JOBS) not in sys.path:
    sys.path.insert(0, str(GLUE_JOBS))

SITES = ("plantA", "plantB", "plantC", "custom")


def custom_site() -> Site:
    """plantC changed wherever a seam carries a site value: units, lines and shifts, alert thresholds, the
    stream-manager transport, the command handler with its setpoints, and non-default paths on the gateway."""
    plant_c = example_sites()["plantC"]
    line_b = {
        "area": "assembly",
        "line": "lineB",
        "ideal_cycle_time_s": 30,
        "state_tag": "press/state",
        "running_states": ["running", "setup"],
        "good_count_tag": "press/good_count",
        "total_count_tag": "press/total_count",
        "shifts": [
            {"name": "early", "start": "06:00", "end": "14:00"},
            {"name": "late", "start": "14:00", "end": "22:30"},
            {"name": "night", "start": "22:30", "end": "06:00"},
        ],
    }
    return variant(
        plant_c,
        timezone="Asia/Kolkata",
        lines=[line.model_dump() for line in plant_c.lines] + [line_b],
        alerts={"client_ratio_threshold": 0.95, "retransmission_rate_threshold": 0.1, "window_s": 600},
        edge={
            "gateways": ["plantC-gw-01", "plantC-gw-02"],
            "components": ["tag-pipeline", "command-handler"],
            "transport": "stream-manager",
            "canonical_units": {"temperature": "degF", "pressure": "psi", "flow": "m3/s", "length": "in", "mass": "lb"},
            "tag_map_path": "/opt/dmc/maps/tag-map.yaml",
            "commands": {
                "opcua_endpoint": "opc.tcp://press-plc.plantc.local:4841",
                "certificate_dir": "/opt/dmc/pki/",
                "setpoints": [
                    {
                        "path": "acme/plantC/assembly/lineB/press/force_setpoint",
                        "node_id": "ns=4;i=1042",
                        "min": 0.5,
                        "max": 12.5,
                    },
                    {
                        "path": "acme/plantC/assembly/lineA/robot/speed_override",
                        "node_id": "ns=2;s=Robot.SpeedOverride",
                        "min": 10,
                        "max": 100,
                    },
                ],
            },
        },
    )


@pytest.fixture(scope="session", params=SITES)
def synthesized(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, site_stack: Callable[[str], SiteStack]
) -> SynthesizedSite:
    """One site synthesized in-process under the compliance gate, once per test session (the example sites
    through the shared ``site_stack`` fixture)."""
    name = request.param
    if name != "custom":
        stack = site_stack(name)
        return SynthesizedSite.read(name, stack.site, stack, Path(stack.node.root.outdir))  # type: ignore[attr-defined]
    site = custom_site()
    assembly = tmp_path_factory.mktemp("seam-custom")
    _, (stack,) = synth({site.id: site}, assembly)
    return SynthesizedSite.read(name, site, stack, assembly)
