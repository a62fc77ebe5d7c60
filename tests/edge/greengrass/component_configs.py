"""Component configurations as a deployment completes them, from the real recipe defaults.

(A module with its own name, not conftest, so that test modules can import it.)
"""

from __future__ import annotations

import copy
from typing import Any

from edge.greengrass.build_artifacts import recipe_for

SITE = "plantA"
GATEWAY = "plantA-gw-01"
UNITS = {"temperature": "degC", "pressure": "bar"}
TAG_MAP: dict[str, Any] = {
    "enterprise": "acme",
    "site": SITE,
    "gateway": GATEWAY,
    "sources": {"simulator": {"seed": 7, "scan_interval_s": 0.05}},
    "tags": [
        {"source": "simulator", "address": "state:filler", "path": "filling/line1/filler/state", "kind": "state"},
        {
            "source": "simulator",
            "address": "analog:filler:mean=68:noise=0.05",
            "path": "filling/line1/filler/temperature",
            "quantity": "temperature",
            "unit": "degF",
            "deadband_abs": 0.5,
        },
    ],
}


def defaults(component: str, transport: str = "mqtt") -> dict[str, Any]:
    """The DefaultConfiguration the build puts into the component's recipe for plantA."""
    recipe = recipe_for(component, site_id=SITE, transport=transport, canonical_units=UNITS)
    return copy.deepcopy(recipe["ComponentConfiguration"]["DefaultConfiguration"])
