"""Seam: the site model -> each Lambda function's Environment.Variables (the synthesized templates) -> the
handler's own settings parser.

Tokens in the variables are resolved to plausible strings first (``ref-<logical id>`` and fake ARNs), so the
test also tells which resource each variable hands the handler. The parser reads through a mapping that
records every name asked for: a variable the template sets but the handler never reads fails as surely as
one the handler reads but the template lacks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from aws_cdk import custom_resources as cr
from site_templates import SynthesizedSite

from factory_constructs.alerts.alert_handler.handler import Config, config_from_env
from factory_constructs.alerts.alert_handler.window import Thresholds
from factory_constructs.api.api_handler.settings import VARIABLES, parse_environment

pytestmark = pytest.mark.synth

# Handler of each of our functions -> the function that parses its environment (None: it reads none).
ENV_READERS: dict[str, Callable[[Mapping[str, str]], Any] | None] = {
    "alert_handler.handler.handler": config_from_env,
    "transform_handler.handler.handler": None,  # Firehose transformation: the envelope only, no settings
    # The edge deployment's custom resource: its settings are the resource's properties (test_greengrass_configuration).
    "deployment_handler.handler.handler": None,
    # The site API's functions (test_api_environment.py checks each one's variables and values).
    **{f"api_handler.entry.{handler}": functools.partial(parse_environment, handler) for handler in VARIABLES},
}
# Functions aws-cdk adds for its own custom resources (e.g. restricting the VPC's default security group).
CDK_PROVIDER_HANDLER = "__entrypoint__.handler"
# The one function CDK makes per stack for AwsCustomResource (the network's prefix-list lookups).
AWS_CUSTOM_RESOURCE_PROVIDER = "AWS" + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", "")


class RecordingEnv(dict[str, str]):
    """An environment that remembers every variable name asked for."""

    def __init__(self, variables: Mapping[str, str]) -> None:
        super().__init__(variables)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


def functions(synthesized: SynthesizedSite) -> dict[str, tuple[str, dict[str, Any]]]:
    """Handler -> (template, properties) of each of our functions in the site; CDK's own are left out."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for stack in synthesized.templates:
        for logical_id, properties in synthesized.resources(stack, "AWS::Lambda::Function").items():
            handler = properties["Handler"]
            if handler == CDK_PROVIDER_HANDLER or logical_id.startswith(AWS_CUSTOM_RESOURCE_PROVIDER):
                continue
            assert handler not in found, f"two functions run {handler}"
            found[handler] = (stack, properties)
    return found


def environment(synthesized: SynthesizedSite, handler: str) -> dict[str, str]:
    """The function's variables as Lambda would set them, tokens resolved."""
    stack, properties = functions(synthesized)[handler]
    variables = properties.get("Environment", {}).get("Variables", {})
    resolved = synthesized.resolve(variables, stack)
    assert all(isinstance(value, str) for value in resolved.values()), resolved
    return resolved


def test_every_function_of_the_site_has_a_known_environment_reader(synthesized: SynthesizedSite) -> None:
    assert sorted(functions(synthesized)) == sorted(ENV_READERS)


def test_alert_handler_reads_exactly_the_variables_the_template_sets(synthesized: SynthesizedSite) -> None:
    env = RecordingEnv(environment(synthesized, "alert_handler.handler.handler"))
    config_from_env(env)  # raises ValueError naming every missing or bad variable
    assert {"set but never read": sorted(set(env) - env.read), "read but not set": sorted(env.read - set(env))} == {
        "set but never read": [],
        "read but not set": [],
    }


def test_alert_handler_settings_are_the_site_models(synthesized: SynthesizedSite) -> None:
    site = synthesized.site
    config = config_from_env(environment(synthesized, "alert_handler.handler.handler"))
    assert config == Config(
        site=site.id,
        topic_arn=config.topic_arn,
        bus_name=config.bus_name,
        carry_table=config.carry_table,
        thresholds=Thresholds(
            grace_factor=2.0,  # the construct's fixed allowance of missed heartbeats, not a site field
            client_ratio=site.alerts.client_ratio_threshold,
            retransmission_rate=site.alerts.retransmission_rate_threshold,
            # Stream manager spreads one line's batches over shards: a gap in batch_seq means nothing there.
            sequence_gaps=site.edge.transport == "mqtt",
        ),
    )


def test_alert_handler_is_handed_the_resources_it_calls(synthesized: SynthesizedSite) -> None:
    config = config_from_env(environment(synthesized, "alert_handler.handler.handler"))
    # A Ref yields a topic's ARN, but a bus's and a table's name: what Publish, PutEvents and GetItem take.
    assert {
        "topic_arn": synthesized.points_at(config.topic_arn),
        "bus_name": synthesized.points_at(config.bus_name),
        "carry_table": synthesized.points_at(config.carry_table),
    } == {
        "topic_arn": ("AWS::SNS::Topic", "Ref"),
        "bus_name": ("AWS::Events::EventBus", "Ref"),
        "carry_table": ("AWS::DynamoDB::GlobalTable", "Ref"),
    }


def test_functions_that_read_no_settings_are_given_no_environment(synthesized: SynthesizedSite) -> None:
    without = sorted(handler for handler, reader in ENV_READERS.items() if reader is None)
    assert {handler: environment(synthesized, handler) for handler in without} == {handler: {} for handler in without}
