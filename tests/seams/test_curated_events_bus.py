"""Seam: the Data stack's EventBridge bus -> the curated Glue job's ``--event_bus`` argument (the synthesized
Data template) -> ``dmc_etl.events.publish``, the call the job makes with it.

Every example site and the customised one: the job is handed the site's one bus, the bus its role may
put events on, the one the integration plane archives and forwards KPI summaries from; and the value
is one botocore accepts as a PutEvents ``EventBusName``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber
from dmc_etl.events import CuratedRun, curated_data_event, publish
from site_templates import SynthesizedSite
from test_glue_site_config import jobs

pytestmark = pytest.mark.synth


def event_bus_argument(synthesized: SynthesizedSite) -> str:
    arguments = jobs(synthesized)["conformed_to_curated.py"]["DefaultArguments"]
    bus = synthesized.resolve(arguments["--event_bus"], "Data")
    assert isinstance(bus, str)
    return bus


def test_the_curated_job_is_handed_the_site_bus(synthesized: SynthesizedSite) -> None:
    assert synthesized.points_at(event_bus_argument(synthesized)) == ("AWS::Events::EventBus", "Arn")
    assert len(synthesized.resources("Data", "AWS::Events::EventBus")) == 1, "a site has one bus"


def test_the_curated_jobs_role_may_put_events_on_that_bus_only(synthesized: SynthesizedSite) -> None:
    (role,) = {
        properties["Role"]["Fn::GetAtt"][0] for properties in synthesized.resources("Data", "AWS::Glue::Job").values()
    }
    granted = [
        synthesized.resolve(statement["Resource"], "Data")
        for policy in synthesized.resources("Data", "AWS::IAM::Policy").values()
        if {"Ref": role} in policy.get("Roles", [])
        for statement in policy["PolicyDocument"]["Statement"]
        if "events:PutEvents" in statement["Action"]
    ]
    assert granted == [event_bus_argument(synthesized)]


def test_the_bus_the_job_announces_on_is_the_one_the_integration_plane_archives(
    synthesized: SynthesizedSite,
) -> None:
    if "Integration" not in synthesized.templates:
        pytest.skip(f"{synthesized.name} has no integration plane")
    (archive,) = synthesized.resources("Integration", "AWS::Events::Archive").values()
    assert synthesized.resolve(archive["SourceArn"], "Integration") == event_bus_argument(synthesized)


def test_publish_hands_the_argument_to_put_events_as_botocore_accepts_it(synthesized: SynthesizedSite) -> None:
    bus = event_bus_argument(synthesized)
    client = boto3.client(
        "events", region_name=synthesized.region, aws_access_key_id="test", aws_secret_access_key="test"
    )
    run = CuratedRun(synthesized.site.id, 2, 1, datetime(2026, 1, 5, 12, tzinfo=UTC))
    entry = curated_data_event(run)
    with Stubber(client) as stubber:  # checks the request against the service model
        stubber.add_response(
            "put_events",
            {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]},
            {"Entries": [{**entry, "EventBusName": bus}]},
        )
        publish(client, bus, [entry])
        stubber.assert_no_pending_responses()
