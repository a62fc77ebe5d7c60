"""Seam: the site model -> each site API function's Environment.Variables (the synthesized Integration
template) -> ``api_handler.settings.parse_environment``, the handlers' own parser.

Every example site and the customised one: each function reads exactly the variables it is given, its
settings are the site model's, and each name it is handed is the resource it must call.
"""

from __future__ import annotations

from typing import Any

import pytest
from site_templates import SynthesizedSite
from test_lambda_environment import RecordingEnv, environment

from factory_constructs.api.api_handler.settings import VARIABLES, AllowedCommand, parse_environment

pytestmark = pytest.mark.synth


def api_environment(synthesized: SynthesizedSite, handler: str) -> dict[str, str]:
    return environment(synthesized, f"api_handler.entry.{handler}")


def table_with_key(synthesized: SynthesizedSite, *keys: str) -> str:
    """The resolved Ref (its name) of the Integration table whose key schema is ``keys``."""
    (logical_id,) = [
        logical_id
        for logical_id, properties in synthesized.resources("Integration", "AWS::DynamoDB::GlobalTable").items()
        if [key["AttributeName"] for key in properties["KeySchema"]] == list(keys)
    ]
    return f"ref-{logical_id}"


@pytest.mark.parametrize("handler", sorted(VARIABLES))
def test_each_api_function_reads_exactly_the_variables_the_template_sets(
    synthesized: SynthesizedSite, handler: str
) -> None:
    env = RecordingEnv(api_environment(synthesized, handler))
    parse_environment(handler, env)  # raises ValueError naming every missing or bad variable
    assert {"set but never read": sorted(set(env) - env.read), "read but not set": sorted(env.read - set(env))} == {
        "set but never read": [],
        "read but not set": [],
    }


@pytest.mark.parametrize("handler", sorted(VARIABLES))
def test_the_api_settings_are_the_site_models(synthesized: SynthesizedSite, handler: str) -> None:
    site = synthesized.site
    settings = parse_environment(handler, api_environment(synthesized, handler))
    expected: dict[str, Any] = {
        "SITE_ID": ("site_id", site.id),
        "ENTERPRISE": ("enterprise", site.enterprise),
        "LINES": ("lines", tuple(f"{line.area}/{line.line}" for line in site.lines)),
        "GATEWAYS": ("gateways", tuple(site.edge.gateways)),
        "COMMAND_ALLOW_LIST": (
            "command_allow_list",
            tuple(
                AllowedCommand(path=point.path, min=point.min, max=point.max)
                for point in (site.edge.commands.setpoints if site.edge.commands else [])
            ),
        ),
        "MAX_RANGE_DAYS": ("max_range_days", site.integration.max_range_days),
        "PAGE_LIMIT_MAX": ("page_limit_max", site.integration.page_limit_max),
    }
    checked = {name: value for name, value in expected.items() if name in VARIABLES[handler]}
    assert {name: getattr(settings, field) for name, (field, _) in checked.items()} == {
        name: value for name, (_, value) in checked.items()
    }


@pytest.mark.parametrize("handler", sorted(VARIABLES))
def test_each_api_function_is_handed_the_resources_it_calls(synthesized: SynthesizedSite, handler: str) -> None:
    settings = parse_environment(handler, api_environment(synthesized, handler))
    databases = {
        properties["DatabaseInput"]["Name"]
        for properties in synthesized.resources("Data", "AWS::Glue::Database").values()
    }
    (workgroup,) = synthesized.resources("Integration", "AWS::Athena::WorkGroup").values()
    # A table's Ref is its name, what the DynamoDB calls take; databases and the workgroup go by name.
    handed = {
        "LATEST_TABLE": (settings.latest_table, table_with_key(synthesized, "path")),
        "COMMANDS_TABLE": (settings.commands_table, table_with_key(synthesized, "command_id")),
        "ALERTS_TABLE": (settings.alerts_table, table_with_key(synthesized, "site", "at_id")),
        "CONFORMED_DATABASE": (settings.conformed_database, f"{synthesized.site.id.lower()}_conformed"),
        "CURATED_DATABASE": (settings.curated_database, f"{synthesized.site.id.lower()}_curated"),
        "ATHENA_WORKGROUP": (settings.athena_workgroup, workgroup["Name"]),
    }
    if "EVENT_BUS" in VARIABLES[handler]:
        # A Ref is a bus's name, what PutEvents takes: the bus the stream alerts are put on, the site's one.
        alert_bus = environment(synthesized, "alert_handler.handler.handler")["ALERT_BUS_NAME"]
        assert synthesized.points_at(settings.event_bus) == ("AWS::Events::EventBus", "Ref")
        handed["EVENT_BUS"] = (settings.event_bus, alert_bus)
    used = {name: pair for name, pair in handed.items() if name in VARIABLES[handler]}
    assert {name: given for name, (given, _) in used.items()} == {name: wanted for name, (_, wanted) in used.items()}
    for name in ("CONFORMED_DATABASE", "CURATED_DATABASE"):
        if name in used:
            assert used[name][0] in databases
