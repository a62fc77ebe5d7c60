"""The site facts the Glue jobs need, as the ``--site_config`` job argument they parse
(``dmc_etl.config.parse_site_config`` on the Glue side rejects keys it does not know)."""

from __future__ import annotations

import json

from site_model.model import Site


def site_config_argument(site: Site) -> str:
    """The ``--site_config`` job argument: time zone, canonical units and the lines' OEE definitions."""
    return json.dumps(
        {
            "timezone": site.timezone,
            "canonical_units": site.edge.canonical_units,
            "lines": [
                {
                    "line_path": site.line_path(line),
                    "ideal_cycle_time_s": line.ideal_cycle_time_s,
                    "state_tag": line.state_tag,
                    "running_states": line.running_states,
                    "good_count_tag": line.good_count_tag,
                    "total_count_tag": line.total_count_tag,
                    "shifts": [shift.model_dump() for shift in line.shifts],
                }
                for line in site.lines
            ],
        },
        separators=(",", ":"),
    )
