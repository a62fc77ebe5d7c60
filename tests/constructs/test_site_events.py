"""SiteEvents on a bare stack: the archive and its key policy, the KPI forwarding rule, validation, nag."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk.assertions import Match, Template

from construct_helpers import bare_stack, keys_of, site_keys, unacknowledged_findings
from factory_constructs.api.site_events import KPI_SUMMARY_DETAIL_TYPE, KPI_SUMMARY_SOURCE, SiteEvents

pytestmark = pytest.mark.synth

DESTINATION = "arn:aws:events:eu-central-1:210987654321:event-bus/command-center"


def build(*, audit_trail: bool = False, destination: str | None = None, **props: Any) -> tuple[Stack, SiteEvents]:
    stack = bare_stack(audit_trail=audit_trail)
    key = site_keys(stack).data
    bus = events.EventBus(stack, "Bus", kms_key=key)
    kpi_destination = events.EventBus.from_event_bus_arn(stack, "Destination", destination) if destination else None
    site_events = SiteEvents(
        stack,
        "Events",
        bus=bus,
        key=key,
        kpi_destination=kpi_destination,
        **{"site_id": "plantA", "archive_days": 365, **props},
    )
    return stack, site_events


def bus_of(stack: Stack) -> events.EventBus:
    bus = stack.node.find_child("Bus")
    assert isinstance(bus, events.EventBus)
    return bus


def test_the_archive_keeps_every_dmc_event_of_the_bus_encrypted_with_the_key() -> None:
    stack, _ = build()
    template = Template.from_stack(stack)
    key_arn = stack.resolve(keys_of(stack).data.key_arn)
    template.has_resource_properties(
        "AWS::Events::Archive",
        {
            "ArchiveName": "plantA-events",
            "SourceArn": stack.resolve(bus_of(stack).event_bus_arn),
            "EventPattern": {"source": [{"prefix": "dmc."}]},
            "RetentionDays": 365,
            "KmsKeyIdentifier": key_arn,
        },
    )
    # The key admits EventBridge for this one archive only (named, so without a reference back to it).
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "EventBridgeArchiveplantA",
                            "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncrypt*", "kms:DescribeKey"],
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Resource": "*",
                            "Condition": {
                                "StringEquals": {
                                    "aws:SourceAccount": "123456789012",
                                    "aws:SourceArn": {
                                        "Fn::Join": [
                                            "",
                                            [
                                                "arn:",
                                                {"Ref": "AWS::Partition"},
                                                ":events:eu-central-1:123456789012:archive/plantA-events",
                                            ],
                                        ]
                                    },
                                }
                            },
                        }
                    ]
                )
            }
        },
    )


def test_without_a_destination_nothing_leaves_the_bus() -> None:
    stack, site_events = build()
    assert site_events.kpi_rule is None
    Template.from_stack(stack).resource_count_is("AWS::Events::Rule", 0)


def test_only_kpi_summaries_of_the_site_without_personal_fields_go_to_the_destination() -> None:
    stack, site_events = build(destination=DESTINATION)
    assert site_events.kpi_rule is not None
    absent = [{"exists": False}]
    Template.from_stack(stack).has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventBusName": stack.resolve(bus_of(stack).event_bus_name),
            "EventPattern": {
                "source": [KPI_SUMMARY_SOURCE],
                "detail-type": [KPI_SUMMARY_DETAIL_TYPE],
                "detail": {
                    "site": ["plantA"],
                    "who": absent,
                    "user": absent,
                    "caller": absent,
                    "sub": absent,
                    "email": absent,
                    "userArn": absent,
                },
            },
            "Targets": [Match.object_like({"Arn": DESTINATION, "RoleArn": Match.any_value()})],
        },
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {"PolicyDocument": {"Statement": [{"Action": "events:PutEvents", "Effect": "Allow", "Resource": DESTINATION}]}},
    )


@pytest.mark.parametrize("days", [0, 3651])
def test_an_archive_retention_out_of_range_is_refused(days: int) -> None:
    with pytest.raises(
        ValueError,
        match=rf"^SiteEvents Events: archive_days {days} is outside 1-3650; fix: keep events at least a day",
    ):
        build(archive_days=days)


def test_the_events_alone_on_an_audit_trail_stack_have_no_unacknowledged_findings() -> None:
    stack, _ = build(audit_trail=True, destination=DESTINATION)
    assert unacknowledged_findings(stack) == []


def test_a_destination_outside_the_data_regions_fails_the_residency_pack() -> None:
    stack, _ = build(destination="arn:aws:events:us-east-1:210987654321:event-bus/command-center")
    assert unacknowledged_findings(stack) == ["Residency-EventTargetsResident at Test/Events/KpiForwarding/Resource"]
